// Hearth firmware bridge codec: COBS framing, CRC-32/ISO-HDLC and a minimal CBOR writer/reader.
// Plain C++ with no Arduino dependency, so the same file compiles on the host for tests.
// The protocol is specified in firmware_bridge/PROTOCOL.md.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace hearth {

constexpr uint8_t PROTOCOL_VERSION = 1;
constexpr size_t HEADER_SIZE = 3;
constexpr size_t CRC_SIZE = 4;
constexpr size_t MIN_BODY = HEADER_SIZE + 1 + CRC_SIZE;
constexpr size_t MAX_BODY = 512;
constexpr size_t MAX_ENCODED = MAX_BODY + MAX_BODY / 254 + 1;
constexpr size_t MAX_WIRE = MAX_ENCODED + 2;  // with both delimiters

// Buffer sizes. The defaults fit the smallest target: on an 8-bit AVR (an Uno has 2 KB of RAM) a board
// keeps a 128-byte receive buffer, builds frames of up to 192 bytes and takes text arguments of up to
// 64 characters; elsewhere the protocol's full sizes. Override one with a build flag
// (-DHEARTH_RX_BUFFER=...) for the whole build, never with a #define in one file.
#if defined(__AVR__)
#define HEARTH_SMALL_DEFAULT(small, full) small
#else
#define HEARTH_SMALL_DEFAULT(small, full) full
#endif

// A board only receives short commands; incoming frames longer than this are dropped (FrameTooLarge).
#ifndef HEARTH_RX_BUFFER
#define HEARTH_RX_BUFFER HEARTH_SMALL_DEFAULT(128, 515)
#endif
static_assert(HEARTH_RX_BUFFER <= MAX_ENCODED, "HEARTH_RX_BUFFER is larger than a frame can be");

// The largest body this board sends; HELLO with many sensors or a large READINGS batch needs more
// than a hundred bytes. A message that does not fit is not sent (the encoder returns 0).
#ifndef HEARTH_TX_BODY
#define HEARTH_TX_BODY HEARTH_SMALL_DEFAULT(192, 512)
#endif
static_assert(HEARTH_TX_BODY <= MAX_BODY && HEARTH_TX_BODY > MIN_BODY, "HEARTH_TX_BODY out of range");

// The longest text a board decodes (a COMMAND's text argument, an ERROR's text); longer is PayloadError.
#ifndef HEARTH_TEXT_MAX
#define HEARTH_TEXT_MAX HEARTH_SMALL_DEFAULT(64, 200)
#endif
static_assert(HEARTH_TEXT_MAX >= 1 && HEARTH_TEXT_MAX <= 200, "HEARTH_TEXT_MAX out of range");

// Room for a whole frame (both delimiters) whose body is at most body bytes.
constexpr size_t wireSize(size_t body) { return body + body / 254 + 4; }

enum MessageType : uint8_t {
  HELLO = 0x01,
  HELLO_REQUEST = 0x02,
  READING = 0x03,
  READINGS = 0x04,
  COMMAND = 0x05,
  ACK = 0x06,
  LOG = 0x07,
  ERROR = 0x08,
};

enum ErrorCode : uint8_t {
  ERR_UNSUPPORTED_VERSION = 1,
  ERR_UNKNOWN_COMMAND = 2,
  ERR_BAD_ARGUMENT = 3,
  ERR_BAD_FRAME = 4,
  ERR_BUSY = 5,
};

enum class Status : uint8_t {
  Ok,
  NeedData,
  FrameTooLarge,
  CobsError,
  FrameTooShort,
  CrcMismatch,
  UnknownMessageType,
  PayloadError,
};

const char* statusName(Status status);

uint32_t crc32(const uint8_t* data, size_t len, uint32_t crc = 0);

// Encodes len bytes into out (room for len + len / 254 + 1); returns the encoded length.
size_t cobsEncode(const uint8_t* in, size_t len, uint8_t* out);
// Decodes into out (room for len; out may be in itself); returns false if the input is not valid COBS.
bool cobsDecode(const uint8_t* in, size_t len, uint8_t* out, size_t* outLen);

// Writes CBOR in preferred (canonical) serialization: shortest integers and the shortest float that
// keeps the value. Sets ok = false instead of overflowing.
class CborWriter {
 public:
  CborWriter(uint8_t* buf, size_t cap) : buf_(buf), cap_(cap) {}
  void uint(uint64_t value) { head(0, value); }
  void integer(int64_t value);
  void text(const char* str);
  void array(size_t count) { head(4, count); }
  void map(size_t count) { head(5, count); }
  void number(double value);
  size_t length() const { return len_; }
  bool ok() const { return ok_; }

 private:
  void head(uint8_t major, uint64_t value);
  void put(uint8_t byte);
  uint8_t* buf_;
  size_t cap_;
  size_t len_ = 0;
  bool ok_ = true;
};

// Reads the CBOR subset the protocol uses: unsigned/negative integers, text, arrays, maps, floats.
class CborReader {
 public:
  CborReader(const uint8_t* data, size_t len) : data_(data), len_(len) {}
  bool head(uint8_t* major, uint64_t* value);
  bool peekMajor(uint8_t* major) const;
  bool readUint(uint64_t* value);
  bool readInt(int64_t* value, bool* isInt, double* asFloat);
  bool readText(char* out, size_t cap);
  bool skip(int depth = 0);
  bool atEnd() const { return pos_ == len_; }

 private:
  bool take(size_t n, const uint8_t** at);
  const uint8_t* data_;
  size_t len_;
  size_t pos_ = 0;
};

// The value of an IEEE binary64 number (given as its bits), rounded to the nearest float. Targets
// whose double is 32 bits (AVR) decode an `fb` float with it.
float binary64ToFloat(uint64_t bits);

struct Sensor {
  const char* quantity;
  const char* unit;
};

struct Entry {
  uint8_t sensor;
  double value;
  uint32_t ageMs;
};

// Encoders write a whole frame (00, COBS body, 00) into out and return its length, or 0 if it does
// not fit in cap or exceeds MAX_BODY. They build the body inside out itself (no buffer on the stack):
// out must hold wireSize(body) bytes.
size_t encodeHello(uint8_t* out, size_t cap, uint16_t seq, const char* boardId, const char* firmware,
                   uint8_t protocol, const Sensor* sensors, size_t count);
size_t encodeHelloRequest(uint8_t* out, size_t cap, uint16_t seq, uint8_t protocol);
size_t encodeReading(uint8_t* out, size_t cap, uint16_t seq, uint8_t sensor, double value);
// For counters and raw ADC values: sent as a CBOR integer.
size_t encodeReadingInt(uint8_t* out, size_t cap, uint16_t seq, uint8_t sensor, int32_t value);
size_t encodeReadings(uint8_t* out, size_t cap, uint16_t seq, const Entry* entries, size_t count);
size_t encodeAck(uint8_t* out, size_t cap, uint16_t seq, uint16_t ackSeq, uint8_t status,
                 const char* detail);
size_t encodeLog(uint8_t* out, size_t cap, uint16_t seq, uint8_t level, const char* text);
size_t encodeError(uint8_t* out, size_t cap, uint16_t seq, uint8_t code, const char* text, bool hasRef,
                   uint16_t ref);

enum class ArgKind : uint8_t { None, Int, Float, Text };

// What a board decodes: the messages a host sends it (HELLO_REQUEST, COMMAND, ERROR). Other valid
// frames decode with only type and seq filled in.
struct Message {
  uint8_t type = 0;
  uint16_t seq = 0;
  uint32_t protocol = 0;       // HELLO_REQUEST
  char name[33] = {0};         // COMMAND
  ArgKind argKind = ArgKind::None;
  int64_t argInt = 0;
  double argFloat = 0;
  char text[HEARTH_TEXT_MAX + 1] = {0};  // COMMAND text argument, ERROR text
  uint8_t code = 0;            // ERROR
  bool hasRef = false;
  uint16_t ref = 0;
};

// Decodes the bytes between two delimiters, in place (chunk is overwritten).
Status decodeFrame(uint8_t* chunk, size_t len, Message* message);

// Collects bytes until a delimiter, then decodes; feed one byte at a time.
class FrameReader {
 public:
  // Returns NeedData until a frame ends; then Ok (message filled) or the error that dropped it.
  Status feed(uint8_t byte, Message* message);

 private:
  uint8_t buf_[HEARTH_RX_BUFFER];
  size_t len_ = 0;
  bool overflow_ = false;
};

}  // namespace hearth
