// Just enough of the Arduino core to compile and run an example sketch on the host.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <string>

#define HIGH 1
#define LOW 0
#define OUTPUT 1
#define LED_BUILTIN 13
#define A0 14

class Stream {
 public:
  std::string in;
  size_t pos = 0;
  std::string out;
  void begin(unsigned long) {}
  int available() { return static_cast<int>(in.size() - pos); }
  int read() { return pos < in.size() ? static_cast<unsigned char>(in[pos++]) : -1; }
  size_t write(const uint8_t* data, size_t len) {
    out.append(reinterpret_cast<const char*>(data), len);
    return len;
  }
};

extern Stream Serial;
extern int pinState[32];
extern unsigned long fakeMillis;

inline void pinMode(int, int) {}
inline void digitalWrite(int pin, int value) { pinState[pin] = value; }
inline int analogRead(int) { return 153; }  // 0.748 V: 24.8 °C on a TMP36
inline unsigned long millis() { return fakeMillis; }
