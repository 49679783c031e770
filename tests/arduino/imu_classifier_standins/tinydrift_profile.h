/* tinydrift_profile.h - compile-check stand-in (tests/arduino): declares what Profile.to_c_header writes (the
 * profile blob and its size) so the ImuClassifier sketch compiles in make arduino-lib-check. Not a profile. */
#ifndef TINYDRIFT_PROFILE_H
#define TINYDRIFT_PROFILE_H
#include <stdint.h>
#define TINYDRIFT_PROFILE_SIZE 1024u
extern const uint8_t tinydrift_profile[TINYDRIFT_PROFILE_SIZE];
#endif
