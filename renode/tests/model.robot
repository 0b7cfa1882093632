*** Comments ***
A generated model on a tinyodl Renode platform: an input window in, the model run, its output read back and
compared, byte for byte, with the output of tinyodl's numpy reference.

`tinyodl renode-script MODEL --board BOARD [--inputs X.npz]` builds the board image of the model and writes
a YAML variable file beside it (BOARD, PLATFORM, CONSOLE, ELF and EXCHANGE), then prints the command:
    renode-test renode/tests/model.robot --variable VARIABLES:/path/to/nucleo-l476rg.model.yaml

EXCHANGE is the whole conversation over the framed link (docs/link.md), written down in advance as
[send, bytes] and [wait, bytes] steps: HELLO, INFO, the input window, INVOKE, and READ requests whose DATA
replies must carry the reference output. Every frame the firmware sends is acknowledged, as the host does.
The DONE reply carries the per-layer instruction counts, which the script cannot know: it is matched up to
them. A keyword argument that looks like name=value is taken as a named argument, so byte strings are
passed as content=...

*** Settings ***
Suite Setup         Setup
Suite Teardown      Teardown
Test Setup          Reset Emulation
Test Teardown       Test Teardown
Resource            ${RENODEKEYWORDS}
Variables           ${VARIABLES}

*** Variables ***
# the variable file that `tinyodl renode-script MODEL --board BOARD` writes
${VARIABLES}        ${EMPTY}
# how long to wait for each frame, in virtual seconds (5e9 instructions at 1000 MIPS)
${TIMEOUT}          5
# one instruction per virtual nanosecond: the platforms' DWT at 1 GHz counts every instruction
${MIPS}             1000

*** Keywords ***
Boot Board
    Execute Command    mach create "${BOARD}"
    Execute Command    machine LoadPlatformDescription @${PLATFORM}
    Execute Command    sysbus LoadELF @${ELF}
    Execute Command    sysbus.cpu PerformanceInMips ${MIPS}
    Create Terminal Tester    sysbus.${CONSOLE}    timeout=${TIMEOUT}    binaryMode=True
    Start Emulation

Send Bytes
    [Arguments]    ${hex}
    @{bytes}=    Evaluate    $hex.split()
    FOR    ${byte}    IN    @{bytes}
        Send Key To Uart    0x${byte}
    END

*** Test Cases ***
Runs The Model And Returns The Reference Output
    Boot Board
    Should Not Be Empty    ${EXCHANGE}    msg=the variable file holds no EXCHANGE
    FOR    ${step}    IN    @{EXCHANGE}
        IF    '${step}[0]' == 'send'
            Send Bytes    ${step}[1]
        ELSE
            Wait For Bytes On Uart    content=${step}[1]
        END
    END
