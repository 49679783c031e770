#!/bin/sh
# tests/arduino/compile_check.sh ZIP OUTDIR - compile the tinydrift Arduino library as the Arduino builder would,
# from the zip `make arduino-lib` wrote, with arm-none-eabi-gcc/g++ and the Mbed Nano core's flags
# (ArduinoCore-mbed variants/ARDUINO_NANO33BLE/cflags.txt, cxxflags.txt; plus -Wall -Wextra -Werror):
#   * every .c of src/ (core + firmware app) as C, once with the core's flags (-std=gnu11 -mfloat-abi=softfp)
#     and once with the project's (-std=c99 -mfloat-abi=hard), with only src/ on the include path;
#   * every .cpp of src/ (the Nano 33 BLE board layer; both IMU variants) and every example's .ino as C++
#     (-std=gnu++14, Arduino.h included first as the builder does), against tests/arduino/arduino_api_decls/:
#     headers that DECLARE the few Arduino, Arduino_LSM9DS1 and TFLite Micro calls used. A compile-time check
#     only: nothing is linked. ImuClassifier's generated model_data.h / tinydrift_profile.h are stand-ins
#     (tests/arduino/imu_classifier_standins/).
# Objects go to OUTDIR/{core,hard,glue,examples}; prints the code size of the core + app objects.
set -eu
zip=$1
mkdir -p "$2" && out=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
CC=${ARM_CC:-arm-none-eabi-gcc}
CXX=${ARM_CXX:-arm-none-eabi-g++}
TARGET="-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16"
COMMON="-Os -ffunction-sections -fdata-sections -fmessage-length=0 -fno-exceptions -fomit-frame-pointer -funsigned-char"
C_CORE="-std=gnu11 $TARGET -mfloat-abi=softfp $COMMON -fno-delete-null-pointer-checks -Wall -Wextra -Werror"
C_HARD="-std=c99 -Os $TARGET -mfloat-abi=hard -ffunction-sections -fdata-sections -Wall -Wextra -Werror"
CXX_CORE="-std=gnu++14 $TARGET -mfloat-abi=softfp $COMMON -fno-rtti -Wall -Wextra -Werror -Wvla"
ARDUINO_DEFS="-DARDUINO=10819 -DARDUINO_ARDUINO_NANO33BLE -DARDUINO_ARCH_MBED -DARDUINO_ARCH_NRF52840"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m zipfile -e "$zip" "$tmp"
lib="$tmp/tinydrift"
[ -f "$lib/library.properties" ] || { echo "arduino-lib-check: $zip has no tinydrift/library.properties" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out/core" "$out/hard" "$out/glue" "$out/examples"

n_c=0
for f in $(cd "$lib/src" && find . -name '*.c' | sort); do
    o=$(basename "$f" .c).o
    [ ! -e "$out/core/$o" ] || { echo "arduino-lib-check: two sources named $o" >&2; exit 1; }
    (cd "$lib/src" && $CC $C_CORE -I. -c "$f" -o "$out/core/$o")
    (cd "$lib/src" && $CC $C_HARD -I. -c "$f" -o "$out/hard/$o")
    n_c=$((n_c + 1))
done
n_cpp=0
for f in $(cd "$lib/src" && find . -name '*.cpp' | sort); do
    b=$(basename "$f" .cpp)
    (cd "$lib/src" && $CXX $CXX_CORE $ARDUINO_DEFS -I"$here/arduino_api_decls" -I. -c "$f" -o "$out/glue/$b.o")
    (cd "$lib/src" && $CXX $CXX_CORE $ARDUINO_DEFS -DTD_NANO_IMU=2 -I"$here/arduino_api_decls" -I. -c "$f" \
        -o "$out/glue/$b-imu2.o")
    n_cpp=$((n_cpp + 1))
done
n_ino=0
for d in "$lib"/examples/*/; do
    name=$(basename "$d")
    ino="$d$name.ino"
    [ -f "$ino" ] || { echo "arduino-lib-check: example $name has no $name.ino" >&2; exit 1; }
    $CXX $CXX_CORE $ARDUINO_DEFS -I"$here/arduino_api_decls" -I"$here/imu_classifier_standins" -I"$lib/src" \
        -include Arduino.h -x c++ -c "$ino" -o "$out/examples/$name.o"
    n_ino=$((n_ino + 1))
done
[ "$n_c" -gt 0 ] && [ "$n_cpp" -gt 0 ] && [ "$n_ino" -gt 0 ] || { echo "arduino-lib-check: nothing compiled" >&2; exit 1; }
echo "arduino-lib-check: $zip: $n_c C files (Mbed Nano core's C flags and -std=c99 -mfloat-abi=hard)," \
    "$n_cpp C++ board layer (both IMU variants) and $n_ino example sketches compile warning-free for the" \
    "Nano 33 BLE's Cortex-M4 (C++ against declarations only: tests/arduino/arduino_api_decls)"
arm-none-eabi-size -t "$out"/core/*.o | tail -1 | \
    awk '{ printf "fw-nano33ble-check: core + app objects (softfp, before --gc-sections): text %d, data %d, bss %d bytes\n", $1, $2, $3 }'
printf '#include "tinydrift/firmware/td_app.h"\ntd_app_t fw_nano_probe_app;\n' | \
    $CC $C_CORE -I"$lib/src" -x c -c - -o "$out/probe.o"
set -- $(arm-none-eabi-nm -S "$out/probe.o" | grep fw_nano_probe_app)
echo "fw-nano33ble-check: static td_app_t: $((0x$2)) bytes of the nRF52840's 256 KB RAM"
