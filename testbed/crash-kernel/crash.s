# A stand-in for a crashing Unikraft 0.16.3 guest on qemu: a multiboot (v1)
# ELF32 kernel that prints one line on COM1 and then ends the way a
# Unikraft guest built for qemu ends on assert or UK_CRASH, by writing 42
# to qemu's isa-debug-exit port 0x501, so qemu exits (42 << 1) | 1 = 85.
#
# Unikraft 0.16.3 (unikraft-0.16.3-offline-src.tar.gz, unikraft/):
#   lib/ukdebug/include/uk/assert.h:84-88  UK_CRASH() (and UK_ASSERT, :56)
#       calls ukplat_terminate(UKPLAT_CRASH);
#   plat/kvm/shutdown.c:71  ukplat_terminate() calls system_off(request);
#   plat/common/x86/cpu_native.c:52  QEMU_ISA_DEBUG_EXIT_PORT 0x501,
#       :56  QEMU_ISA_DEBUG_EXIT_CRASH 42 ("an 85 (42 << 1 | 1) return
#       value from QEMU"), :71  qemu_debug_exit() is outw(port, value),
#       :92-93  system_off(UKPLAT_CRASH) calls qemu_debug_exit(42) first.
#
# Built by the test bed (ukrun_testbed::crash_kernel) with
#   as --32 crash.s -o crash.o
#   ld -m elf_i386 -n -Ttext 0x100000 -e _start crash.o -o crash
# (-n: one segment at 1 MiB, no ELF-header segment below it).
# No preprocessor: plain GNU as syntax, '#' starts a comment.

	.set MULTIBOOT_MAGIC, 0x1BADB002
	.set MULTIBOOT_FLAGS, 0		# ELF kernel: no a.out kludge, no info asked
	.set COM1, 0x3f8
	.set DEBUG_EXIT_PORT, 0x501	# QEMU_ISA_DEBUG_EXIT_PORT
	.set DEBUG_EXIT_CRASH, 42	# QEMU_ISA_DEBUG_EXIT_CRASH: qemu exits 85

	.text
	.code32
# The multiboot header, first in .text so it lies in the file's first 8 KiB.
	.balign 4
	.long MULTIBOOT_MAGIC
	.long MULTIBOOT_FLAGS
	.long -(MULTIBOOT_MAGIC + MULTIBOOT_FLAGS)

	.globl _start
_start:
	cli
	mov $message, %esi
	mov $COM1, %dx
1:	lodsb				# qemu's UART takes bytes as fast as they come
	test %al, %al
	jz 2f
	outb %al, %dx
	jmp 1b
2:	mov $DEBUG_EXIT_PORT, %dx
	mov $DEBUG_EXIT_CRASH, %ax
	outw %ax, %dx			# as Unikraft's outw(): qemu exits here
3:	hlt				# without the device: halt, as a hung guest
	jmp 3b

	.section .rodata
message:
	.asciz "stand-in: crashing as Unikraft's UK_CRASH does\n"

	.section .note.GNU-stack, "", @progbits
