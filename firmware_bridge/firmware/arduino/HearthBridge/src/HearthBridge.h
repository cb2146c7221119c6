// HearthBridge: a board's side of the Hearth firmware bridge protocol over any byte stream.
//
//   hearth::Board<Stream> board(Serial, "uno-kitchen", "1.0.0", SENSORS, 2);
//   board.onCommand(handler);    // uint8_t handler(const hearth::Message&, char* detail, size_t cap)
//   board.begin();               // in setup(): announces HELLO
//   board.poll();                // in loop(): answers HELLO_REQUEST, runs commands, ACKs them
//   board.sendReading(0, 21.5);  // sensor index into SENSORS
//
// IO needs available(), read() and write(const uint8_t*, size_t): Arduino's Stream has them.
#pragma once

#include "HearthCodec.h"

namespace hearth {

using CommandHandler = uint8_t (*)(const Message& command, char* detail, size_t cap);

template <class IO>
class Board {
 public:
  Board(IO& io, const char* boardId, const char* firmware, const Sensor* sensors, size_t count)
      : io_(io), boardId_(boardId), firmware_(firmware), sensors_(sensors), count_(count) {}

  void onCommand(CommandHandler handler) { handler_ = handler; }

  // Announce the board (after a reset the host learns the sequence numbers start again). Start sending
  // readings right after: a board must not wait for HELLO_REQUEST, which a bootloader may have eaten
  // (an Uno resets when the host opens its port).
  void begin() { sendHello(); }

  // True once a host has asked who we are.
  bool hostSeen() const { return hostSeen_; }

  void poll() {
    while (io_.available() > 0) {
      int byte = io_.read();
      if (byte < 0) return;
      Status status = reader_.feed(static_cast<uint8_t>(byte), &message_);
      if (status == Status::Ok) handle(message_);
    }
  }

  bool sendReading(uint8_t sensor, double value) {
    return send(encodeReading(out_, sizeof out_, nextSeq(), sensor, value));
  }

  bool sendReadings(const Entry* entries, size_t count) {
    return send(encodeReadings(out_, sizeof out_, nextSeq(), entries, count));
  }

  bool log(uint8_t level, const char* text) { return send(encodeLog(out_, sizeof out_, nextSeq(), level, text)); }

 private:
  uint16_t nextSeq() { return seq_++; }

  bool send(size_t length) {
    if (length == 0) return false;
    io_.write(out_, length);
    return true;
  }

  void sendHello() {
    send(encodeHello(out_, sizeof out_, nextSeq(), boardId_, firmware_, PROTOCOL_VERSION, sensors_, count_));
  }

  void handle(const Message& message) {
    if (message.type == HELLO_REQUEST) {
      hostSeen_ = true;
      sendHello();
      return;
    }
    if (message.type != COMMAND) return;
    if (haveLast_ && message.seq == lastCommandSeq_) {
      // The host resent a command whose ACK it lost: answer again, do not act twice.
      send(encodeAck(out_, sizeof out_, nextSeq(), message.seq, lastStatus_, "repeat"));
      return;
    }
    char detail[48] = {0};
    uint8_t status = ERR_UNKNOWN_COMMAND;
    if (handler_ != nullptr) status = handler_(message, detail, sizeof detail);
    haveLast_ = true;
    lastCommandSeq_ = message.seq;
    lastStatus_ = status;
    send(encodeAck(out_, sizeof out_, nextSeq(), message.seq, status, detail));
  }

  IO& io_;
  const char* boardId_;
  const char* firmware_;
  const Sensor* sensors_;
  size_t count_;
  CommandHandler handler_ = nullptr;
  FrameReader reader_;
  // Kept here, not on poll()'s stack: on an Uno the stack has a few hundred bytes to spare.
  Message message_;
  uint8_t out_[wireSize(HEARTH_TX_BODY)];
  uint16_t seq_ = 0;
  bool hostSeen_ = false;
  bool haveLast_ = false;
  uint16_t lastCommandSeq_ = 0;
  uint8_t lastStatus_ = 0;
};

}  // namespace hearth
