/* Arduino_BMI270_BMM150.h - compile-check declarations only (tests/arduino/arduino_api_decls/README.md): the
 * IMU calls of the Arduino_BMI270_BMM150 library (Nano 33 BLE Sense Rev2) that the board layer uses. */
#ifndef TD_DECLS_ARDUINO_BMI270_BMM150_H
#define TD_DECLS_ARDUINO_BMI270_BMM150_H

class BoschSensorClass {
public:
    int begin();
    int readAcceleration(float &x, float &y, float &z); /* g */
    int readGyroscope(float &x, float &y, float &z);    /* degrees per second */
};
extern BoschSensorClass IMU;

#endif
