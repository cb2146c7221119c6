// Runs the example sketch against the shim: the hex on stdin is what the host sends; prints what the
// sketch wrote (hex) and the LED pin's state.
#include <iostream>

#include "Arduino.h"

Stream Serial;
int pinState[32] = {0};
unsigned long fakeMillis = 0;

void setup();
void loop();

int main() {
  std::string hex;
  std::cin >> hex;
  setup();
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    Serial.in.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  for (int step = 0; step < 3; ++step) {
    fakeMillis += 1000;
    loop();
  }
  for (unsigned char c : Serial.out) printf("%02x", c);
  printf("\n%d\n", pinState[LED_BUILTIN]);
  return 0;
}
