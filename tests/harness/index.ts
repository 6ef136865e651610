export { type DatabaseTarget, type DatabaseTargetFactory, databaseTargets } from './databases.ts';
export {
  findTool,
  freePort,
  isCI,
  isolatedEnv,
  needs,
  requireTool,
  sleep,
  tempDir,
  waitFor,
} from './env.ts';
export { type LabHost, NET_LAB_TOOLS, NetLab } from './netns.ts';
export {
  BX1600MI_DEV,
  DEFAULT_NUT_USERS,
  NUT_LAB_TOOLS,
  NutLab,
  type NutLabCertificate,
  type NutLabOptions,
  type NutUser,
  UpsmonHandle,
} from './nut-lab.ts';
export { createTestDatabase, postgresSkipReason, type TestDatabase } from './postgres.ts';
export { killAll, type Spawned, spawnTracked } from './processes.ts';
export { createTestRedis, redisSkipReason, type TestRedis } from './redis.ts';
export { PrivatePostgres, PrivateRedis } from './services.ts';
export { indexOfEvent, type TimelineEventLike } from './timeline.ts';
export { DOCKER_API_LAB_TOOLS, DockerApiLab, LIBVIRT_LAB_TOOLS, LibvirtLab } from './virt-labs.ts';
