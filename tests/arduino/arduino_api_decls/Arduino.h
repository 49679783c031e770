/* Arduino.h - compile-check declarations only (tests/arduino/arduino_api_decls/README.md): the few calls of
 * the Arduino API (ArduinoCore-mbed, Nano 33 BLE) that the tinydrift library's glue and examples use. */
#ifndef TD_DECLS_ARDUINO_H
#define TD_DECLS_ARDUINO_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HIGH 0x1
#define LOW 0x0
#define OUTPUT 0x1
#define LED_BUILTIN 13
#define DEC 10
#define HEX 16

/* Print (api/Print.h) and the USB CDC port (USB/PluggableUSBSerial.h): the members the glue calls. */
class TdDeclSerialUSB {
public:
    void begin(unsigned long baudrate);
    int available(void);
    int read(void);
    size_t write(const uint8_t *buffer, size_t size);
    bool dtr(void);
    operator bool();
    size_t print(const char str[]);
    size_t print(char c);
    size_t print(unsigned char b, int base = DEC);
    size_t print(int n, int base = DEC);
    size_t print(unsigned int n, int base = DEC);
    size_t print(long n, int base = DEC);
    size_t print(unsigned long n, int base = DEC);
    size_t print(double n, int digits = 2);
    size_t println(const char str[]);
    size_t println(double n, int digits = 2);
};
extern TdDeclSerialUSB Serial;

unsigned long millis(void);
unsigned long micros(void);
void delay(unsigned long ms);
void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t value);

#endif
