# Sourced by scripts/demo and scripts/test: sets PNPM to a pnpm 10 command, installing none globally
# unless we are root. The version comes from package.json's packageManager field.
pnpm_cmd() {
  PNPM_VERSION=$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' package.json)
  if command -v pnpm >/dev/null 2>&1 && pnpm --version 2>/dev/null | grep -q '^10\.'; then
    PNPM=pnpm
  elif ! command -v npm >/dev/null 2>&1; then
    echo "npm is needed to fetch pnpm $PNPM_VERSION (install Node.js >= 20.19 with npm)" >&2
    exit 1
  elif [ "$(id -u)" = 0 ] && npm install -g --silent "pnpm@$PNPM_VERSION" >/dev/null 2>&1; then
    PNPM=pnpm
  else
    PNPM="npx --yes pnpm@$PNPM_VERSION"
  fi
}

check_node() {
  if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null; then
    echo "Node.js >= 20.19 is required (found: $(node --version 2>/dev/null || echo none))" >&2
    exit 1
  fi
}
