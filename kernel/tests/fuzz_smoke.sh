#!/bin/sh
# Fuzz smoke of the kernel's targets only (is_complete parser, wire
# decoder); scripts/test/fuzz_smoke.sh runs every package's.
exec "$(dirname "$0")/../../scripts/test/fuzz_smoke.sh" ./kernel
