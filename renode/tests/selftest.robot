*** Comments ***
The self-test firmware on a tinyodl Renode platform, checked byte for byte on the console UART.

Run from the checkout (build the ELF and print this exact command with `tinyodl renode-script`):
    renode-test renode/tests/selftest.robot --variable BOARD:nucleo-l476rg --variable ELF:/path/to/firmware.elf
Variables: BOARD (nucleo-l476rg or nucleo-h743zi; default nucleo-l476rg) and ELF (the board image of the
selftest application for that board, as `tinyodl renode-script --board BOARD` builds it).

The frames below are the wire bytes of the framed link (docs/link.md): COBS(type | seq | payload | crc32)
then 0x00. tests/test_renode.py recomputes every one of them from the board files and the protocol, so
they cannot drift from the code. HELLO carries the DWT as the timer source (byte 0), the timer rate (the
reset clock), the stack size, the application and the board name. A keyword argument that looks like
name=value is taken as a named argument, so byte strings are passed as content=...

*** Settings ***
Suite Setup         Setup
Suite Teardown      Teardown
Test Setup          Reset Emulation
Test Teardown       Test Teardown
Resource            ${RENODEKEYWORDS}

*** Variables ***
${BOARD}            nucleo-l476rg
${ELF}              ${EMPTY}
&{PLATFORM}         nucleo-l476rg=stm32l476.repl    nucleo-h743zi=nucleo-h743zi.repl
&{CONSOLE}          nucleo-l476rg=usart2    nucleo-h743zi=usart3
# one instruction per virtual nanosecond: the platforms' DWT at 1 GHz counts every instruction
${MIPS}             1000
&{HELLO}            nucleo-l476rg=02 10 02 01 01 01 01 03 09 3d 01 02 20 01 09 73 65 6c 66 74 65 73 74 0e 6e 75 63 6c 65 6f 2d 6c 34 37 36 72 67 05 eb a5 ab bb 00
...                 nucleo-h743zi=02 10 02 01 01 01 01 04 90 d0 03 02 20 01 09 73 65 6c 66 74 65 73 74 0e 6e 75 63 6c 65 6f 2d 68 37 34 33 7a 69 05 59 0e bf b9 00
# ACK of sequence number 0: the host's for HELLO and the firmware's for RUN are the same bytes
${ACK_0}            02 01 05 be 23 c2 58 00
# RUN kernel 3 (spin), n=1000, one repetition, sequence number 0
${RUN_SPIN}         02 21 02 03 04 e8 03 01 01 01 05 21 83 91 c8 00
# RESULT (sequence number 1) up to its tick count: kernel 3, n=1000, one repetition, value 0
${RESULT_SPIN}      04 22 01 03 04 e8 03 01 01 01 01 01 01 01 01 01 01 01

*** Keywords ***
Boot Board
    Should Not Be Empty    ${ELF}    msg=give the firmware with --variable ELF:/path/to/firmware.elf (see docs/renode.md)
    Execute Command    mach create "${BOARD}"
    Execute Command    machine LoadPlatformDescription @${CURDIR}/../${PLATFORM}[${BOARD}]
    Execute Command    sysbus LoadELF @${ELF}
    Execute Command    sysbus.cpu PerformanceInMips ${MIPS}
    Create Terminal Tester    sysbus.${CONSOLE}[${BOARD}]    timeout=30    binaryMode=True
    Start Emulation

Send Bytes
    [Arguments]    ${hex}
    @{bytes}=    Evaluate    $hex.split()
    FOR    ${byte}    IN    @{bytes}
        Send Key To Uart    0x${byte}
    END

*** Test Cases ***
Boots And Says Hello
    Boot Board
    Wait For Bytes On Uart    content=${HELLO}[${BOARD}]

Runs The Spin Kernel
    Boot Board
    Wait For Bytes On Uart    content=${HELLO}[${BOARD}]
    Send Bytes    ${ACK_0}
    Send Bytes    ${RUN_SPIN}
    Wait For Bytes On Uart    content=${ACK_0}
    Wait For Bytes On Uart    content=${RESULT_SPIN}
