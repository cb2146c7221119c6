// An Arduino Uno in simavr for the firmware tests: an ATmega328P at 16 MHz running a sketch's ELF in
// real time, its UART0 on a file descriptor (the master end of a pty the host opens), a fixed voltage
// on ADC0, and the LED pin (PB5) and the stack's low-water mark reported on stdout.
//
//   simavr_uno SKETCH.elf FD ADC0_MILLIVOLTS
//
// Prints "led N" at each change of PB5, and on SIGTERM "stack_min 0xADDR" (the lowest stack pointer
// seen after any instruction, interrupts included) before it exits. The chip starts at the sketch: the
// core's optiboot does not run usefully in simavr 1.6 (after it hands over on a watchdog reset, WDE
// stays set and the sketch is reset every 16 ms), so the tests play the bootloader's part themselves.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <simavr/avr_adc.h>
#include <simavr/avr_ioport.h>
#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>

static volatile sig_atomic_t stopping = 0;
static int port_fd = -1;
static int uart_ready = 1;

static void on_term(int sig) {
  (void)sig;
  stopping = 1;
}

static void on_uart_out(struct avr_irq_t* irq, uint32_t value, void* param) {
  (void)irq;
  (void)param;
  uint8_t byte = (uint8_t)value;
  while (write(port_fd, &byte, 1) < 0 && errno == EINTR) {
  }
}

static void on_xon(struct avr_irq_t* irq, uint32_t value, void* param) {
  (void)irq;
  (void)value;
  (void)param;
  uart_ready = 1;
}

static void on_xoff(struct avr_irq_t* irq, uint32_t value, void* param) {
  (void)irq;
  (void)value;
  (void)param;
  uart_ready = 0;
}

static void on_led(struct avr_irq_t* irq, uint32_t value, void* param) {
  (void)irq;
  (void)param;
  printf("led %u\n", value & 1);
  fflush(stdout);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s SKETCH.elf FD ADC0_MILLIVOLTS\n", argv[0]);
    return 2;
  }
  port_fd = atoi(argv[2]);
  fcntl(port_fd, F_SETFL, fcntl(port_fd, F_GETFL) | O_NONBLOCK);
  signal(SIGTERM, on_term);

  elf_firmware_t firmware;
  memset(&firmware, 0, sizeof firmware);
  if (elf_read_firmware(argv[1], &firmware) != 0) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  avr_t* avr = avr_make_mcu_by_name("atmega328p");
  avr_init(avr);
  avr_load_firmware(avr, &firmware);
  avr->frequency = 16000000;
  avr->vcc = avr->avcc = avr->aref = 5000;
  avr->log = 0;

  uint32_t flags = 0;
  avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
  flags &= ~(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);
  avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), on_uart_out, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), on_xon, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), on_xoff, NULL);
  avr_irq_t* uart_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
  avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0), (uint32_t)atoi(argv[3]));
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 5), on_led, NULL);

  uint16_t stack_min = 0xFFFF;
  double start_s = now_s();
  avr_cycle_count_t next_check = 0;
  while (!stopping) {
    int state = avr_run(avr);
    if (state == cpu_Done || state == cpu_Crashed) {
      fprintf(stderr, "the simulated chip stopped (state %d) at pc 0x%04x\n", state, avr->pc);
      break;
    }
    uint16_t sp = (uint16_t)(avr->data[R_SPL] | (avr->data[R_SPH] << 8));
    if (sp < stack_min) stack_min = sp;
    if (avr->cycle < next_check) continue;
    next_check = avr->cycle + 1000;  // about a sixth of a byte time at 115200 baud
    if (uart_ready) {
      uint8_t byte;
      if (read(port_fd, &byte, 1) == 1) avr_raise_irq(uart_in, byte);
    }
    double ahead = avr->cycle / 16e6 - (now_s() - start_s);
    if (ahead > 0.002) {
      struct timespec pause = {0, (long)(ahead * 1e9)};
      nanosleep(&pause, NULL);
    }
  }
  printf("stack_min 0x%04x\n", stack_min);
  fflush(stdout);
  return 0;
}
