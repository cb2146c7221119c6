// Test sketch for the simulated Uno: four sensors (a bigger HELLO), and an "echo" command that sends
// its number argument back as a READING of sensor 0, so the host sees how the board decoded the
// argument and how it encodes the value again.
#include <HearthBridge.h>

static const hearth::Sensor SENSORS[] = {
    {"temperature", "\xc2\xb0" "C"}, {"humidity", "%"}, {"pressure", "hPa"}, {"illuminance", "lx"}};
static hearth::Board<Stream> board(Serial, "uno-codec-check", "1.0.0", SENSORS, 4);
static double echoed = 0;
static bool pending = false;

static uint8_t onCommand(const hearth::Message& command, char* detail, size_t cap) {
  if (strcmp(command.name, "echo") != 0 || command.argKind != hearth::ArgKind::Float) {
    snprintf(detail, cap, "echo takes a float");
    return hearth::ERR_BAD_ARGUMENT;
  }
  echoed = command.argFloat;
  pending = true;
  return 0;
}

void setup() {
  Serial.begin(115200);
  board.onCommand(onCommand);
  board.begin();
}

void loop() {
  board.poll();
  if (pending) {
    pending = false;
    board.sendReading(0, echoed);
  }
}
