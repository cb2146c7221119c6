// Reports a temperature (the analog pin A0 through a TMP36) and obeys "toggle" / "set" commands on
// the built-in LED. Plug it into a Hearth hub and add a [[sources]] entry of kind "serial".
#include <HearthBridge.h>

static const hearth::Sensor SENSORS[] = {{"temperature", "°C"}, {"raw", ""}};
static hearth::Board<Stream> board(Serial, "uno-tmp36-1", "1.0.0", SENSORS, 2);
static bool led = false;

static uint8_t onCommand(const hearth::Message& command, char* detail, size_t cap) {
  if (strcmp(command.name, "toggle") == 0) {
    led = !led;
  } else if (strcmp(command.name, "set") == 0 && command.argKind == hearth::ArgKind::Int &&
             (command.argInt == 0 || command.argInt == 1)) {
    led = command.argInt == 1;
  } else if (strcmp(command.name, "set") == 0) {
    snprintf(detail, cap, "set takes 0 or 1");
    return hearth::ERR_BAD_ARGUMENT;
  } else {
    snprintf(detail, cap, "unknown command");
    return hearth::ERR_UNKNOWN_COMMAND;
  }
  digitalWrite(LED_BUILTIN, led ? HIGH : LOW);
  snprintf(detail, cap, led ? "on" : "off");
  return 0;
}

void setup() {
  pinMode(LED_BUILTIN, OUTPUT);
  Serial.begin(115200);
  board.onCommand(onCommand);
  board.begin();
}

void loop() {
  static unsigned long last = 0;
  board.poll();
  // Stream from boot, HELLO_REQUEST or not: opening the port resets an Uno, and its bootloader eats
  // the host's request.
  if (millis() - last >= 1000) {
    last = millis();
    int raw = analogRead(A0);
    float volts = raw * (5.0f / 1023.0f);
    board.sendReading(0, (volts - 0.5f) * 100.0f);
    board.sendReading(1, raw);
  }
}
