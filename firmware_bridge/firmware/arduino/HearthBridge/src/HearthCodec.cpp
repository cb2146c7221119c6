// Hearth firmware bridge codec; see HearthCodec.h and firmware_bridge/PROTOCOL.md.
#include "HearthCodec.h"

#include <math.h>
#include <string.h>

namespace hearth {

const char* statusName(Status status) {
  switch (status) {
    case Status::Ok: return "Ok";
    case Status::NeedData: return "NeedData";
    case Status::FrameTooLarge: return "FrameTooLarge";
    case Status::CobsError: return "CobsError";
    case Status::FrameTooShort: return "FrameTooShort";
    case Status::CrcMismatch: return "CrcMismatch";
    case Status::UnknownMessageType: return "UnknownMessageType";
    case Status::PayloadError: return "PayloadError";
  }
  return "?";
}

// CRC-32/ISO-HDLC (the zlib/Ethernet CRC): reflected polynomial 0xEDB88320, init and final xor
// 0xFFFFFFFF. Bitwise to save the 1 KB table on small boards.
uint32_t crc32(const uint8_t* data, size_t len, uint32_t crc) {
  crc = ~crc;
  for (size_t i = 0; i < len; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
  }
  return ~crc;
}

size_t cobsEncode(const uint8_t* in, size_t len, uint8_t* out) {
  size_t codeAt = 0;
  size_t o = 1;
  uint8_t code = 1;
  for (size_t i = 0; i < len; ++i) {
    if (in[i] == 0) {
      out[codeAt] = code;
      codeAt = o++;
      code = 1;
    } else {
      out[o++] = in[i];
      if (++code == 0xFF) {
        out[codeAt] = code;
        codeAt = o++;
        code = 1;
      }
    }
  }
  out[codeAt] = code;
  return o;
}

bool cobsDecode(const uint8_t* in, size_t len, uint8_t* out, size_t* outLen) {
  size_t i = 0;
  size_t o = 0;
  while (i < len) {
    uint8_t code = in[i++];
    if (code == 0) return false;
    for (uint8_t k = 1; k < code; ++k) {
      if (i >= len || in[i] == 0) return false;
      out[o++] = in[i++];
    }
    if (code != 0xFF && i < len) out[o++] = 0;
  }
  *outLen = o;
  return true;
}

// -- CBOR writer ------------------------------------------------------------------------------------

void CborWriter::put(uint8_t byte) {
  if (len_ < cap_) {
    buf_[len_++] = byte;
  } else {
    ok_ = false;
  }
}

void CborWriter::head(uint8_t major, uint64_t value) {
  uint8_t m = static_cast<uint8_t>(major << 5);
  if (value < 24) {
    put(static_cast<uint8_t>(m | value));
  } else if (value <= 0xFF) {
    put(m | 24);
    put(static_cast<uint8_t>(value));
  } else if (value <= 0xFFFF) {
    put(m | 25);
    put(static_cast<uint8_t>(value >> 8));
    put(static_cast<uint8_t>(value));
  } else if (value <= 0xFFFFFFFFull) {
    put(m | 26);
    for (int shift = 24; shift >= 0; shift -= 8) put(static_cast<uint8_t>(value >> shift));
  } else {
    put(m | 27);
    for (int shift = 56; shift >= 0; shift -= 8) put(static_cast<uint8_t>(value >> shift));
  }
}

void CborWriter::integer(int64_t value) {
  if (value >= 0) {
    head(0, static_cast<uint64_t>(value));
  } else {
    head(1, static_cast<uint64_t>(-(value + 1)));
  }
}

void CborWriter::text(const char* str) {
  size_t n = strlen(str);
  head(3, n);
  for (size_t i = 0; i < n; ++i) put(static_cast<uint8_t>(str[i]));
}

// The half-precision bits of f if f is exactly representable as a half (subnormals included).
static bool halfOf(float f, uint16_t* half) {
  uint32_t bits;
  memcpy(&bits, &f, 4);
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  int32_t exp = static_cast<int32_t>((bits >> 23) & 0xFF);
  uint32_t mant = bits & 0x7FFFFFu;
  if (exp == 0xFF) {
    if (mant != 0) return false;
    *half = sign | 0x7C00u;
    return true;
  }
  if (exp == 0) {
    if (mant != 0) return false;
    *half = sign;
    return true;
  }
  int32_t e = exp - 127;
  if (e >= -14 && e <= 15) {
    if (mant & 0x1FFFu) return false;
    *half = static_cast<uint16_t>(sign | ((e + 15) << 10) | (mant >> 13));
    return true;
  }
  if (e >= -24 && e < -14) {
    uint32_t full = mant | 0x800000u;
    int32_t shift = -e - 1;
    // uint32_t, not 1u: unsigned is 16 bits on AVR and shift goes up to 23.
    if (full & ((uint32_t{1} << shift) - 1u)) return false;
    *half = static_cast<uint16_t>(sign | (full >> shift));
    return true;
  }
  return false;
}

void CborWriter::number(double value) {
  if (value != value) {  // NaN: canonical quiet NaN
    put(0xF9);
    put(0x7E);
    put(0x00);
    return;
  }
  float single = static_cast<float>(value);
  if (static_cast<double>(single) == value) {
    uint16_t half;
    if (halfOf(single, &half)) {
      put(0xF9);
      put(static_cast<uint8_t>(half >> 8));
      put(static_cast<uint8_t>(half));
      return;
    }
    uint32_t bits;
    memcpy(&bits, &single, 4);
    put(0xFA);
    for (int shift = 24; shift >= 0; shift -= 8) put(static_cast<uint8_t>(bits >> shift));
    return;
  }
#if __SIZEOF_DOUBLE__ == 8
  uint64_t bits;
  memcpy(&bits, &value, 8);
  put(0xFB);
  for (int shift = 56; shift >= 0; shift -= 8) put(static_cast<uint8_t>(bits >> shift));
#endif
}

// -- CBOR reader ------------------------------------------------------------------------------------

bool CborReader::take(size_t n, const uint8_t** at) {
  if (len_ - pos_ < n) return false;
  *at = data_ + pos_;
  pos_ += n;
  return true;
}

bool CborReader::peekMajor(uint8_t* major) const {
  if (pos_ >= len_) return false;
  *major = data_[pos_] >> 5;
  return true;
}

bool CborReader::head(uint8_t* major, uint64_t* value) {
  const uint8_t* at;
  if (!take(1, &at)) return false;
  *major = at[0] >> 5;
  uint8_t info = at[0] & 0x1F;
  size_t n;
  if (info < 24) {
    *value = info;
    return true;
  } else if (info == 24) {
    n = 1;
  } else if (info == 25) {
    n = 2;
  } else if (info == 26) {
    n = 4;
  } else if (info == 27) {
    n = 8;
  } else {
    return false;  // indefinite lengths and reserved values are not part of the protocol
  }
  if (!take(n, &at)) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | at[i];
  *value = v;
  return true;
}

bool CborReader::readUint(uint64_t* value) {
  uint8_t major;
  return head(&major, value) && major == 0;
}

static double halfToDouble(uint16_t h) {
  int exp = (h >> 10) & 0x1F;
  int mant = h & 0x3FF;
  double v;
  if (exp == 0) {
    v = mant / 16777216.0;  // mant * 2^-24
  } else if (exp == 31) {
    v = mant ? 0.0 / 0.0 : 1.0 / 0.0;
  } else {
    v = (1.0 + mant / 1024.0);
    for (int e = exp - 15; e > 0; --e) v *= 2;
    for (int e = exp - 15; e < 0; ++e) v /= 2;
  }
  return (h & 0x8000) ? -v : v;
}

bool CborReader::readInt(int64_t* value, bool* isInt, double* asFloat) {
  uint8_t major;
  if (pos_ >= len_) return false;
  uint8_t initial = data_[pos_];
  if ((initial >> 5) == 7) {
    uint8_t info = initial & 0x1F;
    const uint8_t* at;
    pos_++;
    if (info == 25) {
      if (!take(2, &at)) return false;
      *asFloat = halfToDouble(static_cast<uint16_t>((at[0] << 8) | at[1]));
    } else if (info == 26) {
      if (!take(4, &at)) return false;
      uint32_t bits = (uint32_t(at[0]) << 24) | (uint32_t(at[1]) << 16) | (uint32_t(at[2]) << 8) | at[3];
      float f;
      memcpy(&f, &bits, 4);
      *asFloat = f;
    } else if (info == 27) {
      if (!take(8, &at)) return false;
      uint64_t bits = 0;
      for (int i = 0; i < 8; ++i) bits = (bits << 8) | at[i];
#if __SIZEOF_DOUBLE__ == 8
      memcpy(asFloat, &bits, 8);
#else
      *asFloat = binary64ToFloat(bits);
#endif
    } else {
      return false;
    }
    *isInt = false;
    return true;
  }
  uint64_t raw;
  if (!head(&major, &raw)) return false;
  if (major == 0 && raw <= 0x7FFFFFFFFFFFFFFFull) {
    *value = static_cast<int64_t>(raw);
  } else if (major == 1 && raw <= 0x7FFFFFFFFFFFFFFFull) {
    *value = -1 - static_cast<int64_t>(raw);
  } else {
    return false;
  }
  *isInt = true;
  return true;
}

float binary64ToFloat(uint64_t bits) {
  bool negative = (bits >> 63) != 0;
  int exp = static_cast<int>((bits >> 52) & 0x7FF);
  uint64_t mant = bits & 0xFFFFFFFFFFFFFull;
  float value;
  if (exp == 0x7FF) {
    value = mant != 0 ? NAN : INFINITY;
  } else if (exp == 0) {
    value = 0.0f;  // a binary64 subnormal is far below the smallest float
  } else {
    // The 53-bit significand rounds to a float once; scaling by a power of two is then exact.
    value = ldexpf(static_cast<float>(mant | (uint64_t{1} << 52)), exp - 1075);
  }
  return negative ? -value : value;
}

bool CborReader::readText(char* out, size_t cap) {
  uint8_t major;
  uint64_t n;
  const uint8_t* at;
  if (!head(&major, &n) || major != 3 || n >= cap || !take(static_cast<size_t>(n), &at)) return false;
  memcpy(out, at, static_cast<size_t>(n));
  out[n] = 0;
  return true;
}

bool CborReader::skip(int depth) {
  if (depth > 8) return false;
  uint8_t major;
  uint64_t n;
  const uint8_t* at;
  if (pos_ >= len_) return false;
  if ((data_[pos_] >> 5) == 7) {
    int64_t i;
    bool isInt;
    double f;
    return readInt(&i, &isInt, &f);
  }
  if (!head(&major, &n)) return false;
  switch (major) {
    case 0:
    case 1:
      return true;
    case 2:
    case 3:
      return n <= len_ && take(static_cast<size_t>(n), &at);
    case 4:
      for (uint64_t i = 0; i < n; ++i)
        if (!skip(depth + 1)) return false;
      return true;
    case 5:
      for (uint64_t i = 0; i < 2 * n; ++i)
        if (!skip(depth + 1)) return false;
      return true;
    default:
      return false;  // tags are not part of the protocol
  }
}

// -- frames -----------------------------------------------------------------------------------------

namespace {

// Builds one frame inside out: the body (header, CBOR payload, CRC) goes near the end of out and is
// then COBS-encoded forward to the start. The body starts 3 + cap / 254 bytes in, which keeps each
// encoded byte behind the body bytes still to be read (COBS adds at most one byte per 254).
class FrameBuilder {
 public:
  FrameBuilder(uint8_t* out, size_t cap, uint8_t type, uint16_t seq)
      : out_(out),
        cap_(cap),
        start_(3 + cap / 254),
        body_(out + start_),
        cbor(body_ + HEADER_SIZE, payloadCap(cap)) {
    if (cap_ < start_ + MIN_BODY) return;
    body_[0] = type;
    body_[1] = static_cast<uint8_t>(seq);
    body_[2] = static_cast<uint8_t>(seq >> 8);
  }
  size_t finish() {
    if (cap_ < start_ + MIN_BODY || !cbor.ok()) return 0;
    size_t len = HEADER_SIZE + cbor.length();
    uint32_t crc = crc32(body_, len);
    for (int i = 0; i < 4; ++i) body_[len++] = static_cast<uint8_t>(crc >> (8 * i));
    out_[0] = 0;
    size_t n = cobsEncode(body_, len, out_ + 1);
    out_[n + 1] = 0;
    return n + 2;
  }

 private:
  static size_t payloadCap(size_t cap) {
    size_t start = 3 + cap / 254;
    if (cap < start + MIN_BODY) return 0;
    size_t body = cap - start < MAX_BODY ? cap - start : MAX_BODY;
    return body - HEADER_SIZE - CRC_SIZE;
  }
  uint8_t* out_;
  size_t cap_;
  size_t start_;
  uint8_t* body_;

 public:
  CborWriter cbor;
};

}  // namespace

size_t encodeHello(uint8_t* out, size_t cap, uint16_t seq, const char* boardId, const char* firmware,
                   uint8_t protocol, const Sensor* sensors, size_t count) {
  FrameBuilder f(out, cap, HELLO, seq);
  f.cbor.map(4);
  f.cbor.uint(0);
  f.cbor.text(boardId);
  f.cbor.uint(1);
  f.cbor.text(firmware);
  f.cbor.uint(2);
  f.cbor.uint(protocol);
  f.cbor.uint(3);
  f.cbor.array(count);
  for (size_t i = 0; i < count; ++i) {
    f.cbor.array(2);
    f.cbor.text(sensors[i].quantity);
    f.cbor.text(sensors[i].unit);
  }
  return f.finish();
}

size_t encodeHelloRequest(uint8_t* out, size_t cap, uint16_t seq, uint8_t protocol) {
  FrameBuilder f(out, cap, HELLO_REQUEST, seq);
  f.cbor.map(1);
  f.cbor.uint(0);
  f.cbor.uint(protocol);
  return f.finish();
}

size_t encodeReadingInt(uint8_t* out, size_t cap, uint16_t seq, uint8_t sensor, int32_t value) {
  FrameBuilder f(out, cap, READING, seq);
  f.cbor.map(2);
  f.cbor.uint(0);
  f.cbor.uint(sensor);
  f.cbor.uint(1);
  f.cbor.integer(value);
  return f.finish();
}

size_t encodeReading(uint8_t* out, size_t cap, uint16_t seq, uint8_t sensor, double value) {
  FrameBuilder f(out, cap, READING, seq);
  f.cbor.map(2);
  f.cbor.uint(0);
  f.cbor.uint(sensor);
  f.cbor.uint(1);
  f.cbor.number(value);
  return f.finish();
}

size_t encodeReadings(uint8_t* out, size_t cap, uint16_t seq, const Entry* entries, size_t count) {
  FrameBuilder f(out, cap, READINGS, seq);
  f.cbor.map(1);
  f.cbor.uint(0);
  f.cbor.array(count);
  for (size_t i = 0; i < count; ++i) {
    f.cbor.array(3);
    f.cbor.uint(entries[i].sensor);
    f.cbor.number(entries[i].value);
    f.cbor.uint(entries[i].ageMs);
  }
  return f.finish();
}

size_t encodeAck(uint8_t* out, size_t cap, uint16_t seq, uint16_t ackSeq, uint8_t status,
                 const char* detail) {
  bool hasDetail = detail != nullptr && detail[0] != 0;
  FrameBuilder f(out, cap, ACK, seq);
  f.cbor.map(hasDetail ? 3 : 2);
  f.cbor.uint(0);
  f.cbor.uint(ackSeq);
  f.cbor.uint(1);
  f.cbor.uint(status);
  if (hasDetail) {
    f.cbor.uint(2);
    f.cbor.text(detail);
  }
  return f.finish();
}

size_t encodeLog(uint8_t* out, size_t cap, uint16_t seq, uint8_t level, const char* text) {
  FrameBuilder f(out, cap, LOG, seq);
  f.cbor.map(2);
  f.cbor.uint(0);
  f.cbor.uint(level);
  f.cbor.uint(1);
  f.cbor.text(text);
  return f.finish();
}

size_t encodeError(uint8_t* out, size_t cap, uint16_t seq, uint8_t code, const char* text, bool hasRef,
                   uint16_t ref) {
  FrameBuilder f(out, cap, ERROR, seq);
  f.cbor.map(hasRef ? 3 : 2);
  f.cbor.uint(0);
  f.cbor.uint(code);
  f.cbor.uint(1);
  f.cbor.text(text);
  if (hasRef) {
    f.cbor.uint(2);
    f.cbor.uint(ref);
  }
  return f.finish();
}

static bool parsePayload(CborReader& r, Message* m) {
  uint8_t major;
  uint64_t pairs;
  if (!r.head(&major, &pairs) || major != 5) return false;
  bool seen[3] = {false, false, false};
  for (uint64_t i = 0; i < pairs; ++i) {
    uint64_t key;
    if (!r.readUint(&key)) return false;
    if (key < 3) seen[key] = true;
    if (m->type == HELLO_REQUEST && key == 0) {
      uint64_t v;
      if (!r.readUint(&v) || v > 0xFFFFFFFFull) return false;
      m->protocol = static_cast<uint32_t>(v);
    } else if (m->type == COMMAND && key == 0) {
      if (!r.readText(m->name, sizeof m->name)) return false;
    } else if (m->type == COMMAND && key == 1) {
      uint8_t argMajor;
      if (!r.peekMajor(&argMajor)) return false;
      if (argMajor == 3) {
        if (!r.readText(m->text, sizeof m->text)) return false;
        m->argKind = ArgKind::Text;
      } else {
        bool isInt;
        if (!r.readInt(&m->argInt, &isInt, &m->argFloat)) return false;
        m->argKind = isInt ? ArgKind::Int : ArgKind::Float;
        if (!isInt && m->argFloat != m->argFloat) return false;
      }
    } else if (m->type == ERROR && key == 0) {
      uint64_t v;
      if (!r.readUint(&v) || v > 255) return false;
      m->code = static_cast<uint8_t>(v);
    } else if (m->type == ERROR && key == 1) {
      if (!r.readText(m->text, sizeof m->text)) return false;
    } else if (m->type == ERROR && key == 2) {
      uint64_t v;
      if (!r.readUint(&v) || v > 0xFFFF) return false;
      m->hasRef = true;
      m->ref = static_cast<uint16_t>(v);
    } else if (!r.skip()) {
      return false;
    }
  }
  if (!r.atEnd()) return false;
  switch (m->type) {
    case HELLO_REQUEST: return seen[0];
    case COMMAND: return seen[0];
    case ERROR: return seen[0] && seen[1];
    default: return true;
  }
}

Status decodeFrame(uint8_t* chunk, size_t len, Message* message) {
  if (len > MAX_ENCODED) return Status::FrameTooLarge;
  size_t size;
  if (!cobsDecode(chunk, len, chunk, &size)) return Status::CobsError;
  if (size < MIN_BODY) return Status::FrameTooShort;
  if (size > MAX_BODY) return Status::FrameTooLarge;
  uint32_t crc = 0;
  for (int i = 3; i >= 0; --i) crc = (crc << 8) | chunk[size - 4 + i];
  if (crc32(chunk, size - CRC_SIZE) != crc) return Status::CrcMismatch;
  *message = Message();
  message->type = chunk[0];
  message->seq = static_cast<uint16_t>(chunk[1] | (chunk[2] << 8));
  if (message->type < HELLO || message->type > ERROR) return Status::UnknownMessageType;
  CborReader reader(chunk + HEADER_SIZE, size - HEADER_SIZE - CRC_SIZE);
  if (!parsePayload(reader, message)) return Status::PayloadError;
  return Status::Ok;
}

Status FrameReader::feed(uint8_t byte, Message* message) {
  if (byte != 0) {
    if (len_ < sizeof buf_) {
      buf_[len_++] = byte;
    } else {
      overflow_ = true;
    }
    return Status::NeedData;
  }
  size_t len = len_;
  bool overflow = overflow_;
  len_ = 0;
  overflow_ = false;
  if (overflow) return Status::FrameTooLarge;
  if (len == 0) return Status::NeedData;  // back-to-back delimiters
  return decodeFrame(buf_, len, message);
}

}  // namespace hearth
