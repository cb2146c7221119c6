// Host-side driver for the golden vector test: reads commands on stdin, prints results on stdout.
//   E <type> <seq> <fields...>   encode a message; prints the wire bytes in hex
//   C <cap> <type> <seq> ...     the same into a buffer of cap bytes (ENCODE-FAILED if it does not fit)
//   D <hex>                      feed bytes to a FrameReader; prints each completed frame or error
//   B <hex>                      feed bytes to a Board (the sketch's logic); prints what it wrote
//   F <16 hex digits>            binary64 bits rounded to a float as on AVR; prints the float's bits
// Text fields are written as "x" followed by their UTF-8 bytes in hex, so they hold no spaces.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memory>
#include <string>
#include <vector>
#include <sstream>
#include <iostream>

#include "../../src/HearthBridge.h"
#include "../../src/HearthCodec.h"

using namespace hearth;

static std::string unhexText(const std::string& field) {
  std::string out;
  for (size_t i = 1; i + 1 < field.size(); i += 2) {
    out.push_back(static_cast<char>(strtol(field.substr(i, 2).c_str(), nullptr, 16)));
  }
  return out;
}

static std::string hexText(const char* text) {
  std::string out = "x";
  char buf[3];
  for (const char* c = text; *c; ++c) {
    snprintf(buf, sizeof buf, "%02x", static_cast<unsigned char>(*c));
    out += buf;
  }
  return out;
}

static void printHex(const uint8_t* data, size_t len) {
  for (size_t i = 0; i < len; ++i) printf("%02x", data[i]);
  printf("\n");
}

// Encodes into a heap buffer of exactly cap bytes, so a sanitizer sees any write past it.
static void encode(std::istringstream& in, size_t cap) {
  std::string type;
  unsigned seq;
  in >> type >> seq;
  std::unique_ptr<uint8_t[]> buffer(new uint8_t[cap + (cap == 0)]);
  uint8_t* out = buffer.get();
  size_t n = 0;
  if (type == "hello") {
    std::string board, fw;
    unsigned proto, count;
    in >> board >> fw >> proto >> count;
    std::vector<std::string> texts;
    for (unsigned i = 0; i < 2 * count; ++i) {
      std::string t;
      in >> t;
      texts.push_back(unhexText(t));
    }
    std::vector<Sensor> sensors;
    for (unsigned i = 0; i < count; ++i) sensors.push_back({texts[2 * i].c_str(), texts[2 * i + 1].c_str()});
    std::string b = unhexText(board), f = unhexText(fw);
    n = encodeHello(out, cap, seq, b.c_str(), f.c_str(), proto, sensors.data(), count);
  } else if (type == "hello_request") {
    unsigned proto;
    in >> proto;
    n = encodeHelloRequest(out, cap, seq, proto);
  } else if (type == "reading") {
    unsigned sensor;
    std::string value;
    in >> sensor >> value;
    if (value[0] == 'i') {
      n = encodeReadingInt(out, cap, seq, sensor, atoi(value.c_str() + 2));
    } else {
      n = encodeReading(out, cap, seq, sensor, strtod(value.c_str() + 2, nullptr));
    }
  } else if (type == "readings") {
    unsigned count;
    in >> count;
    std::vector<Entry> entries;
    for (unsigned i = 0; i < count; ++i) {
      unsigned sensor;
      std::string value;
      unsigned long age;
      in >> sensor >> value >> age;
      entries.push_back({static_cast<uint8_t>(sensor), strtod(value.c_str() + 2, nullptr),
                         static_cast<uint32_t>(age)});
    }
    n = encodeReadings(out, cap, seq, entries.data(), count);
  } else if (type == "ack") {
    unsigned ackSeq, status;
    std::string detail;
    in >> ackSeq >> status >> detail;
    n = encodeAck(out, cap, seq, ackSeq, status, unhexText(detail).c_str());
  } else if (type == "log") {
    unsigned level;
    std::string text;
    in >> level >> text;
    n = encodeLog(out, cap, seq, level, unhexText(text).c_str());
  } else if (type == "error") {
    unsigned code;
    std::string text, ref;
    in >> code >> text >> ref;
    bool hasRef = ref != "-";
    n = encodeError(out, cap, seq, code, unhexText(text).c_str(), hasRef,
                    hasRef ? static_cast<uint16_t>(atoi(ref.c_str())) : 0);
  }
  if (n == 0) {
    printf("ENCODE-FAILED\n");
  } else {
    printHex(out, n);
  }
}

static void decode(std::istringstream& in) {
  std::string hex;
  in >> hex;
  FrameReader reader;
  Message m;
  std::string results;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    uint8_t byte = static_cast<uint8_t>(strtol(hex.substr(i, 2).c_str(), nullptr, 16));
    Status status = reader.feed(byte, &m);
    if (status == Status::NeedData) continue;
    char line[600];
    if (status != Status::Ok) {
      snprintf(line, sizeof line, "ERR %s", statusName(status));
    } else if (m.type == COMMAND) {
      std::string arg = "none -";
      char num[64];
      if (m.argKind == ArgKind::Int) {
        snprintf(num, sizeof num, "int %lld", static_cast<long long>(m.argInt));
        arg = num;
      } else if (m.argKind == ArgKind::Float) {
        snprintf(num, sizeof num, "float %.17g", m.argFloat);
        arg = num;
      } else if (m.argKind == ArgKind::Text) {
        arg = "text " + hexText(m.text);
      }
      snprintf(line, sizeof line, "OK %u %u %s %s", m.type, m.seq, hexText(m.name).c_str(), arg.c_str());
    } else if (m.type == HELLO_REQUEST) {
      snprintf(line, sizeof line, "OK %u %u %lu", m.type, m.seq, static_cast<unsigned long>(m.protocol));
    } else if (m.type == ERROR) {
      char ref[8] = "-";
      if (m.hasRef) snprintf(ref, sizeof ref, "%u", m.ref);
      snprintf(line, sizeof line, "OK %u %u %u %s %s", m.type, m.seq, m.code, hexText(m.text).c_str(), ref);
    } else {
      snprintf(line, sizeof line, "OK %u %u", m.type, m.seq);
    }
    if (!results.empty()) results += ";";
    results += line;
  }
  printf("%s\n", results.c_str());
}

// A byte pipe standing in for Arduino's Serial.
struct FakeIO {
  std::string in;
  size_t pos = 0;
  std::string out;
  int available() const { return static_cast<int>(in.size() - pos); }
  int read() { return pos < in.size() ? static_cast<unsigned char>(in[pos++]) : -1; }
  size_t write(const uint8_t* data, size_t len) {
    out.append(reinterpret_cast<const char*>(data), len);
    return len;
  }
};

static bool led = false;

static uint8_t onCommand(const Message& command, char* detail, size_t cap) {
  if (strcmp(command.name, "toggle") != 0) {
    snprintf(detail, cap, "unknown command");
    return ERR_UNKNOWN_COMMAND;
  }
  led = !led;
  snprintf(detail, cap, led ? "on" : "off");
  return 0;
}

static void board(std::istringstream& in) {
  std::string hex;
  in >> hex;
  static const Sensor sensors[] = {{"temperature", "\xc2\xb0" "C"}};
  FakeIO io;
  Board<FakeIO> b(io, "host-board", "1.0.0", sensors, 1);
  b.onCommand(onCommand);
  b.begin();
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    io.in.push_back(static_cast<char>(strtol(hex.substr(i, 2).c_str(), nullptr, 16)));
  }
  b.poll();
  if (b.hostSeen()) b.sendReading(0, 21.5);
  printHex(reinterpret_cast<const uint8_t*>(io.out.data()), io.out.size());
}

static void toFloat(std::istringstream& in) {
  std::string hex;
  in >> hex;
  float f = binary64ToFloat(strtoull(hex.c_str(), nullptr, 16));
  uint32_t bits;
  memcpy(&bits, &f, 4);
  printf("%08x\n", bits);
}

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string op;
    in >> op;
    if (op == "E") {
      encode(in, MAX_WIRE + 8);
    } else if (op == "C") {
      size_t cap;
      in >> cap;
      encode(in, cap);
    } else if (op == "D") {
      decode(in);
    } else if (op == "B") {
      board(in);
    } else if (op == "F") {
      toFloat(in);
    } else {
      printf("UNKNOWN-OP\n");
    }
    fflush(stdout);
  }
  return 0;
}
