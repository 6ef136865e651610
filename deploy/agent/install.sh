#!/bin/sh
# Installs, upgrades or removes the Blackstart agent on a Linux host with systemd.
#
#   curl -fsSL <controller>/install.sh | sudo sh -s -- --token <token> --pin <pin>
#
# The controller serves this script with its URL, its TLS public-key pin and the checksums of the
# agent artifacts filled in below. Everything downloaded is checked against those checksums. The
# whole script is one function called on the last line, so a truncated download runs nothing.
# Run with --help for the options; docs/agent.md explains what is installed where.

# --- rendered by the controller -----------------------------------------------------------------
CONTROLLER_URL=''
CURL_PINNED_KEY=''
AGENT_VERSION=''
SHA256_X64=''
SHA256_ARM64=''
# --- end of rendered values ---------------------------------------------------------------------

set -eu

USER_NAME=blackstart-agent
PREFIX=/opt/blackstart-agent
CONF_DIR=/etc/blackstart-agent
STATE_DIR=/var/lib/blackstart-agent
UNIT_DIR=/etc/systemd/system
UNITS="blackstart-agent.service blackstart-agent-poweroff.path blackstart-agent-poweroff.service"

usage() {
	cat <<'USAGE'
usage: install.sh [options]

  --token <token>           single-use enrollment token (blackstart agent install-command prints one)
  --pin <pin>               sha256:<hex> of the controller's TLS certificate, or the thumbprint of its key
  --host <id>               this host's id in the plan (default: the short host name, lower-cased)
  --controller <url>        controller URL (default: the controller that served this script)
  --power-action <kind>     systemd-path (default) | dry-run
  --failsafe-deadline <s>   seconds without the controller on battery before shutting down alone (default 120; off)
  --nut <ups@host[:port]>   follow this NUT server while the controller is unreachable
  --with-docker             add the agent user to the docker group (docker-stop hooks; root-equivalent!)
  --with-libvirt            add the agent user to the libvirt group (libvirt-shutdown hooks)
  --artifact <file>         install from this agent tarball instead of downloading it
  --root <dir>              install into <dir> (an image or a test root): nothing is started
  --uninstall               stop and remove the agent (keeps its config and state)
  --purge                   with --uninstall: also remove config, state and the system user
  -h, --help                this text
USAGE
}

say() { printf 'blackstart-agent: %s\n' "$*"; }
die() {
	printf 'blackstart-agent: error: %s\n' "$*" >&2
	exit 1
}

main() {
	for arg in "$@"; do
		case $arg in -h | --help) usage; exit 0 ;; esac
	done
	if [ "$(id -u)" != 0 ]; then
		become_root "$@"
	fi
	token=''
	pin=''
	host=''
	controller=$CONTROLLER_URL
	power_action=systemd-path
	failsafe_deadline=''
	nut=''
	with_docker=0
	with_libvirt=0
	artifact=''
	root=''
	uninstall=0
	purge=0
	while [ $# -gt 0 ]; do
		case $1 in
		--token) need_value "$@"; token=$2; shift 2 ;;
		--pin) need_value "$@"; pin=$2; shift 2 ;;
		--host) need_value "$@"; host=$2; shift 2 ;;
		--controller) need_value "$@"; controller=$2; shift 2 ;;
		--power-action) need_value "$@"; power_action=$2; shift 2 ;;
		--failsafe-deadline) need_value "$@"; failsafe_deadline=$2; shift 2 ;;
		--nut) need_value "$@"; nut=$2; shift 2 ;;
		--with-docker) with_docker=1; shift ;;
		--with-libvirt) with_libvirt=1; shift ;;
		--artifact) need_value "$@"; artifact=$2; shift 2 ;;
		--root) need_value "$@"; root=$2; shift 2 ;;
		--uninstall) uninstall=1; shift ;;
		--purge) purge=1; shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown option '$1'" ;;
		esac
	done
	if [ -n "$root" ]; then
		[ -d "$root" ] || die "--root $root is not a directory"
		root=$(cd "$root" && pwd)
	fi

	if [ "$uninstall" = 1 ]; then
		uninstall_agent
		return
	fi

	case $power_action in
	systemd-path | dry-run) ;;
	*) die "--power-action must be systemd-path or dry-run (a custom command goes in $CONF_DIR/agent.env)" ;;
	esac
	check_systemd
	arch=$(detect_arch)
	[ -n "$controller" ] || die "no controller URL: pass --controller <url>"
	case $controller in
	http://* | https://*) ;;
	*) die "--controller must be an http(s) URL, not '$controller'" ;;
	esac
	controller=${controller%/}

	tmp=$(mktemp -d)
	# shellcheck disable=SC2064 # expand now: $tmp is fixed
	trap "rm -rf '$tmp'" EXIT INT TERM

	fetch_artifact "$arch"
	ensure_user
	install_files
	write_config
	enroll_agent
	install_units
	start_and_check
}

need_value() {
	[ $# -ge 2 ] || die "$1 needs a value"
}

# Re-runs this script as root through sudo or doas. Piped into sh there is no file to re-run, so it
# is downloaded again from the controller that served it (with the same TLS pin).
become_root() {
	if command -v sudo >/dev/null 2>&1; then
		elevate=sudo
	elif command -v doas >/dev/null 2>&1; then
		elevate=doas
	else
		die "run this as root (neither sudo nor doas is installed)"
	fi
	case ${0##*/} in
	sh | dash | bash | ash | ksh | zsh | busybox) ;;
	*)
		if [ -f "$0" ] && [ -r "$0" ]; then
			say "re-running as root with $elevate"
			exec "$elevate" sh "$0" "$@"
		fi
		;;
	esac
	[ -n "$CONTROLLER_URL" ] || die "run this as root: sudo sh install.sh ..."
	self=$(mktemp)
	download "$CONTROLLER_URL/install.sh" "$self"
	say "re-running as root with $elevate"
	exec "$elevate" sh "$self" "$@"
}

check_systemd() {
	if [ -n "$root" ]; then return; fi
	command -v systemctl >/dev/null 2>&1 || die "systemctl not found: the agent is installed as a systemd service"
	[ -d /run/systemd/system ] || die "systemd is not running on this host (no /run/systemd/system); see docs/agent.md for other supervisors"
}

detect_arch() {
	machine=$(uname -m)
	case $machine in
	x86_64 | amd64) echo x64 ;;
	aarch64 | arm64) echo arm64 ;;
	*) die "unsupported architecture '$machine' (the agent ships for x86_64 and aarch64)" ;;
	esac
}

sha256_of() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d' ' -f1
	elif command -v shasum >/dev/null 2>&1; then
		shasum -a 256 "$1" | cut -d' ' -f1
	elif command -v openssl >/dev/null 2>&1; then
		openssl dgst -sha256 -r "$1" | cut -d' ' -f1
	else
		die "no sha256sum, shasum or openssl to verify downloads with"
	fi
}

download() {
	if command -v curl >/dev/null 2>&1; then
		if [ -n "$CURL_PINNED_KEY" ]; then
			# The controller's certificate is self-signed: curl trusts it by its public key only.
			curl -fsS --proto '=https' --retry 3 -k --pinnedpubkey "$CURL_PINNED_KEY" -o "$2" "$1" ||
				die "download of $1 failed"
		else
			curl -fsS --retry 3 -o "$2" "$1" || die "download of $1 failed"
		fi
	elif command -v wget >/dev/null 2>&1 && [ -z "$CURL_PINNED_KEY" ]; then
		wget -q -O "$2" "$1" || die "download of $1 failed"
	else
		die "curl is needed to download from $1"
	fi
}

fetch_artifact() {
	case $1 in
	x64) expected=$SHA256_X64 ;;
	arm64) expected=$SHA256_ARM64 ;;
	esac
	if [ -n "$artifact" ]; then
		[ -f "$artifact" ] || die "--artifact $artifact: no such file"
		cp "$artifact" "$tmp/agent.tar.gz"
	else
		[ -n "$expected" ] || die "the controller has no agent build for linux-$1 (build it there: see docs/agent.md)"
		name="blackstart-agent-$AGENT_VERSION-linux-$1.tar.gz"
		say "downloading $name"
		download "$controller/agent/$name" "$tmp/agent.tar.gz"
	fi
	actual=$(sha256_of "$tmp/agent.tar.gz")
	if [ -n "$expected" ]; then
		[ "$actual" = "$expected" ] || die "checksum mismatch for the agent artifact: expected $expected, got $actual"
		say "checksum verified ($actual)"
	else
		say "local artifact, sha256 $actual (no checksum from a controller to compare with)"
	fi
	mkdir "$tmp/unpacked"
	tar -xzf "$tmp/agent.tar.gz" -C "$tmp/unpacked"
	[ -x "$tmp/unpacked/blackstart-agent/runtime/node" ] || die "the artifact has no runtime for this host"
	"$tmp/unpacked/blackstart-agent/runtime/node" --version >/dev/null 2>&1 ||
		die "the artifact's runtime does not run on this host (wrong architecture?)"
}

# Reads a user's or group's numeric id from the (possibly --root) passwd/group file.
id_in() {
	awk -F: -v n="$2" '$1 == n { print $3 }' "$root/etc/$1"
}

ensure_user() {
	if [ -z "$(id_in passwd "$USER_NAME" 2>/dev/null)" ]; then
		nologin=/usr/sbin/nologin
		[ -x "$root$nologin" ] || nologin=/sbin/nologin
		[ -x "$root$nologin" ] || nologin=/bin/false
		if [ -n "$root" ]; then
			useradd --prefix "$root" --system --user-group --home-dir "$STATE_DIR" --no-create-home --shell "$nologin" "$USER_NAME"
		else
			useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home --shell "$nologin" "$USER_NAME"
		fi
		say "created system user $USER_NAME"
	fi
	uid=$(id_in passwd "$USER_NAME")
	gid=$(id_in group "$USER_NAME")
	if [ -z "$uid" ] || [ -z "$gid" ]; then die "could not create the system user $USER_NAME"; fi
	for group in docker libvirt; do
		wanted=$with_docker
		[ "$group" = libvirt ] && wanted=$with_libvirt
		[ "$wanted" = 1 ] || continue
		if [ -z "$(id_in group "$group" 2>/dev/null)" ]; then
			say "warning: no '$group' group on this host; --with-$group skipped"
			continue
		fi
		if [ -n "$root" ]; then usermod --prefix "$root" -aG "$group" "$USER_NAME"; else usermod -aG "$group" "$USER_NAME"; fi
		say "added $USER_NAME to the $group group"
	done
}

install_files() {
	new="$root$PREFIX.new"
	rm -rf "$new"
	mkdir -p "$(dirname "$new")"
	cp -R "$tmp/unpacked/blackstart-agent" "$new"
	chown -R 0:0 "$new"
	chmod -R u=rwX,go=rX "$new"
	if [ -d "$root$PREFIX" ]; then rm -rf "$root$PREFIX.old" && mv "$root$PREFIX" "$root$PREFIX.old"; fi
	mv "$new" "$root$PREFIX"
	rm -rf "$root$PREFIX.old"
	mkdir -p "$root/usr/local/bin"
	ln -sf "$PREFIX/bin/blackstart-agent" "$root/usr/local/bin/blackstart-agent"
	say "installed $("$root$PREFIX/runtime/node" "$root$PREFIX/lib/blackstart-agent.mjs" --version) with Node.js $("$root$PREFIX/runtime/node" --version) in $PREFIX"
	mkdir -p "$root$STATE_DIR"
	chown "$uid:$gid" "$root$STATE_DIR"
	chmod 0700 "$root$STATE_DIR"
}

# Quotes a value for the environment file (systemd and sh both read single quotes).
quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

write_config() {
	conf="$root$CONF_DIR/agent.env"
	mkdir -p "$root$CONF_DIR"
	chmod 0755 "$root$CONF_DIR"
	if [ -f "$conf" ] && [ -z "$token" ]; then
		say "keeping the configuration in $CONF_DIR/agent.env"
		return
	fi
	[ -n "$token" ] || die "--token is needed for a first install (blackstart agent install-command prints one)"
	[ -n "$pin" ] || die "--pin is needed to trust the controller (blackstart agent install-command prints it)"
	if [ -z "$host" ]; then
		host=$(hostname 2>/dev/null || cat /etc/hostname)
		host=$(printf '%s' "${host%%.*}" | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9._\n-' '-')
	fi
	old_umask=$(umask)
	umask 077
	{
		echo "# Blackstart agent configuration, written by install.sh. Options: blackstart-agent --help"
		echo "BLACKSTART_CONTROLLER=$(quote "$controller")"
		echo "BLACKSTART_HOST=$(quote "$host")"
		echo "BLACKSTART_PIN=$(quote "$pin")"
		echo "BLACKSTART_POWER_ACTION=$(quote "$power_action")"
		[ -z "$failsafe_deadline" ] || echo "BLACKSTART_FAILSAFE_DEADLINE=$(quote "$failsafe_deadline")"
		[ -z "$nut" ] || echo "BLACKSTART_NUT=$(quote "$nut")"
	} >"$conf.new"
	umask "$old_umask"
	chown 0:0 "$conf.new"
	chmod 0600 "$conf.new"
	# Put in place only once enrollment with it worked (enroll_agent).
}

# Enrolls as the agent user before the service starts, so a wrong token or pin shows up here.
enroll_agent() {
	[ -n "$token" ] || return 0
	# A new token means enrolling again: forget the previous controller, keep the agent's key.
	rm -f "$root$STATE_DIR/controller-key.json" "$root$STATE_DIR/controller-cert.pem"
	run_as_agent() {
		if command -v setpriv >/dev/null 2>&1; then
			setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"
		elif command -v runuser >/dev/null 2>&1 && [ -z "$root" ]; then
			runuser -u "$USER_NAME" -- "$@"
		else
			# shellcheck disable=SC2016 # expanded by the shell su starts
			su -s /bin/sh "$USER_NAME" -c '"$0" "$@"' "$@"
		fi
	}
	say "enrolling with $controller"
	# The configuration and the token reach the agent as environment, never as visible arguments.
	(
		set -a
		# shellcheck disable=SC1090 # written just above
		. "$root$CONF_DIR/agent.env.new"
		set +a
		BLACKSTART_TOKEN=$token
		BLACKSTART_STATE_DIR=$root$STATE_DIR
		LOG_LEVEL=warn
		export BLACKSTART_TOKEN BLACKSTART_STATE_DIR LOG_LEVEL
		cd /
		run_as_agent "$root$PREFIX/runtime/node" "$root$PREFIX/lib/blackstart-agent.mjs" enroll >/dev/null
	) || {
		rm -f "$root$CONF_DIR/agent.env.new"
		die "enrollment failed (see the message above); nothing was started or changed"
	}
	mv "$root$CONF_DIR/agent.env.new" "$root$CONF_DIR/agent.env"
	say "wrote $CONF_DIR/agent.env (mode 0600) for host '$host'"
}

install_units() {
	mkdir -p "$root$UNIT_DIR"
	units_changed=0
	for unit in $UNITS; do
		src="$root$PREFIX/share/systemd/$unit"
		dst="$root$UNIT_DIR/$unit"
		if [ ! -f "$dst" ]; then
			cp "$src" "$dst"
			say "installed $UNIT_DIR/$unit"
			units_changed=1
		elif ! cmp -s "$src" "$dst"; then
			cp "$src" "$dst"
			say "updated $UNIT_DIR/$unit"
			units_changed=1
		else
			say "unchanged $UNIT_DIR/$unit"
		fi
		chmod 0644 "$dst"
	done
}

start_and_check() {
	enable="blackstart-agent.service"
	[ "$power_action" = systemd-path ] && enable="$enable blackstart-agent-poweroff.path"
	if [ -n "$root" ]; then
		# shellcheck disable=SC2086 # unit names without spaces
		systemctl --root="$root" enable $enable >/dev/null 2>&1 || die "systemctl --root=$root enable failed"
		say "enabled $enable in $root (not started: --root)"
		return
	fi
	[ "$units_changed" = 0 ] || systemctl daemon-reload
	# shellcheck disable=SC2086
	systemctl enable $enable >/dev/null
	[ "$power_action" = systemd-path ] && systemctl restart blackstart-agent-poweroff.path
	# A status left by the previous run must not pass for this one.
	rm -f "$STATE_DIR/status.json"
	systemctl restart blackstart-agent.service
	say "waiting for the agent to connect"
	i=0
	while [ $i -lt 30 ]; do
		if grep -q '"connected":true' "$STATE_DIR/status.json" 2>/dev/null; then
			say "the agent is running and connected to $controller"
			return 0
		fi
		systemctl is-active --quiet blackstart-agent.service || break
		sleep 1
		i=$((i + 1))
	done
	journalctl -u blackstart-agent.service -n 20 --no-pager >&2 || true
	die "the agent did not connect (see the log above; systemctl status blackstart-agent)"
}

uninstall_agent() {
	if [ -z "$root" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		# shellcheck disable=SC2086
		systemctl disable --now $UNITS >/dev/null 2>&1 || true
	elif [ -n "$root" ]; then
		# shellcheck disable=SC2086
		systemctl --root="$root" disable $UNITS >/dev/null 2>&1 || true
	fi
	for unit in $UNITS; do
		if [ -f "$root$UNIT_DIR/$unit" ]; then
			rm -f "$root$UNIT_DIR/$unit"
			say "removed $UNIT_DIR/$unit"
		fi
	done
	[ -n "$root" ] || systemctl daemon-reload 2>/dev/null || true
	rm -rf "$root$PREFIX" "$root$PREFIX.new" "$root$PREFIX.old"
	if [ -L "$root/usr/local/bin/blackstart-agent" ]; then rm -f "$root/usr/local/bin/blackstart-agent"; fi
	say "removed $PREFIX"
	if [ "$purge" = 1 ]; then
		rm -rf "$root$CONF_DIR" "$root$STATE_DIR"
		if [ -n "$(id_in passwd "$USER_NAME" 2>/dev/null)" ]; then
			if [ -n "$root" ]; then userdel --prefix "$root" "$USER_NAME"; else userdel "$USER_NAME"; fi
			say "removed the user $USER_NAME"
		fi
		say "removed $CONF_DIR and $STATE_DIR"
	else
		say "kept $CONF_DIR and $STATE_DIR (--purge removes them)"
	fi
}

main "$@"
