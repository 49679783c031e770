/* Arduino_LSM9DS1.h - compile-check declarations only (tests/arduino/arduino_api_decls/README.md): the IMU
 * calls of the Arduino_LSM9DS1 library (src/LSM9DS1.h) that the tinydrift library uses. */
#ifndef TD_DECLS_ARDUINO_LSM9DS1_H
#define TD_DECLS_ARDUINO_LSM9DS1_H

class LSM9DS1Class {
public:
    int begin();
    int readAcceleration(float &x, float &y, float &z); /* g */
    int readGyroscope(float &x, float &y, float &z);    /* degrees per second */
};
extern LSM9DS1Class IMU;

#endif
