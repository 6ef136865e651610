/**
 * The node-hid transport, for what can run without a UPS: the native module loads, enumeration
 * works (and finds no UPS on a machine without one), missing devices and unreadable descriptors give
 * clear errors, selectors parse. With UPS_HID_PATH set (e.g. /dev/hidraw0) one more test opens that
 * real UPS and reads it.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  DescriptorUnavailableError,
  describeSelector,
  isUpsCandidate,
  listUpsDevices,
  loadNodeHid,
  matchesSelector,
  openUps,
  parseSelector,
  readSysfsDescriptor,
  UpsNotFoundError,
} from '../src/index.ts';

const hidrawNodes = (() => {
  try {
    return readdirSync('/dev').filter((n) => n.startsWith('hidraw'));
  } catch {
    return [];
  }
})();

describe('node-hid enumeration on this machine', () => {
  test('the native module loads and reports its hidapi version', async () => {
    const hid = await loadNodeHid();
    assert.match(hid.getHidapiVersion(), /^\d+\.\d+\.\d+$/);
  });

  test('listUpsDevices returns only UPS candidates, and none where no hidraw device exists', async () => {
    const devices = await listUpsDevices();
    for (const d of devices) {
      assert.ok(isUpsCandidate(d), `${d.path} is not a UPS candidate`);
      assert.ok(['apc', 'cyberpower', 'eaton', 'generic'].includes(d.profile));
    }
    if (hidrawNodes.length === 0) assert.deepEqual(devices, []);
  });

  test('opening by vendor/product when no such UPS is attached names the selector and what was found', async () => {
    await assert.rejects(
      openUps({ vendorId: 0x051d, productId: 0x0002, serialNumber: 'NOPE' }),
      (error: unknown) => {
        assert.ok(error instanceof UpsNotFoundError);
        assert.match(error.message, /^no UPS matches vendor 051d, product 0002, serial NOPE; /);
        if (hidrawNodes.length === 0) assert.match(error.message, /no HID UPS is connected to this machine/);
        return true;
      },
    );
  });

  test('opening a path that does not exist says so', async () => {
    await assert.rejects(openUps({ path: '/dev/hidraw-blackstart-missing' }), (error: unknown) => {
      assert.ok(error instanceof UpsNotFoundError);
      assert.equal(error.message, '/dev/hidraw-blackstart-missing does not exist (is the UPS plugged in?)');
      return true;
    });
  });

  test('descriptors come from sysfs for hidraw nodes only, with the file named on failure', async () => {
    await assert.rejects(readSysfsDescriptor('/dev/hidraw250'), (error: unknown) => {
      assert.ok(error instanceof DescriptorUnavailableError);
      assert.match(
        error.message,
        /^cannot read \/sys\/class\/hidraw\/hidraw250\/device\/report_descriptor: ENOENT/,
      );
      return true;
    });
    await assert.rejects(
      readSysfsDescriptor('/dev/usb/hiddev0'),
      /only Linux hidraw paths \(\/dev\/hidrawN\) have one in sysfs/,
    );
  });
});

describe('selectors', () => {
  test('parse every documented form', () => {
    assert.deepEqual(parseSelector(undefined), {});
    assert.deepEqual(parseSelector('auto'), {});
    assert.deepEqual(parseSelector('/dev/hidraw3'), { path: '/dev/hidraw3' });
    assert.deepEqual(parseSelector('051d'), { vendorId: 0x051d });
    assert.deepEqual(parseSelector('051d:0002'), { vendorId: 0x051d, productId: 2 });
    assert.deepEqual(parseSelector('0x051d:0002:9B2019A14274'), {
      vendorId: 0x051d,
      productId: 2,
      serialNumber: '9B2019A14274',
    });
    assert.deepEqual(parseSelector('vendor=0764, serial=CTHGS2000123'), {
      vendorId: 0x0764,
      serialNumber: 'CTHGS2000123',
    });
    assert.deepEqual(parseSelector('path=/dev/hidraw1,product=0501'), {
      path: '/dev/hidraw1',
      productId: 0x0501,
    });
  });

  test('reject malformed selectors with the reason', () => {
    assert.throws(() => parseSelector('apc'), /vendor 'apc' is not a 16-bit hex ID/);
    assert.throws(() => parseSelector('051d:12345'), /product '12345' is not a 16-bit hex ID/);
    assert.throws(() => parseSelector('color=red'), /unknown key 'color'/);
    assert.throws(() => parseSelector('vendor='), /'vendor=' is not key=value/);
  });

  test('match on every given field; describe themselves for messages', () => {
    const apc = { vendorId: 0x051d, productId: 2, serialNumber: ' 9B20 ', path: '/dev/hidraw0' };
    assert.ok(matchesSelector(apc, {}));
    assert.ok(matchesSelector(apc, { vendorId: 0x051d, serialNumber: '9B20' }));
    assert.ok(!matchesSelector(apc, { vendorId: 0x051d, productId: 3 }));
    assert.ok(!matchesSelector(apc, { path: '/dev/hidraw1' }));
    assert.equal(describeSelector({}), 'any UPS');
    assert.equal(describeSelector({ path: '/dev/hidraw0' }), 'path /dev/hidraw0');
  });

  test('UPS candidates: the Power Device usage page, or a known UPS vendor when the backend reports none', () => {
    assert.ok(isUpsCandidate({ vendorId: 0x1234, productId: 1, usagePage: 0x84 }));
    assert.ok(isUpsCandidate({ vendorId: 0x051d, productId: 2, usagePage: 0 }));
    assert.ok(isUpsCandidate({ vendorId: 0x0463, productId: 0xffff }));
    assert.ok(!isUpsCandidate({ vendorId: 0x046d, productId: 0xc52b, usagePage: 0x01 }));
    assert.ok(!isUpsCandidate({ vendorId: 0x0764, productId: 0x9999, usagePage: 0x01 }));
  });
});

const realUps = process.env.UPS_HID_PATH;
describe('a real UPS', {
  skip: realUps ? false : 'no UPS attached; set UPS_HID_PATH=/dev/hidrawN to run',
}, () => {
  test('opens, reads the status and closes', async () => {
    const ups = await openUps({ path: realUps! }, { pollIntervalMs: 0 });
    try {
      const vars = await ups.read();
      assert.match(vars['ups.status'] ?? '', /\b(OL|OB)\b/);
    } finally {
      await ups.close();
    }
  });
});
