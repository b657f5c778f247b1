#!/usr/bin/env bash
# Run ./wk under valgrind's memcheck with the small-object pool off (WK_NO_POOL=1) so every
# object is its own malloc block: any invalid access or leak makes the run exit 99.
here=$(cd "$(dirname "$0")/.." && pwd)
WK_NO_POOL=1 exec valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=99 "$here/wk" "$@"
