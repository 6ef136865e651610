# Differential conformance corpus: replayed against Debian's real upsd 2.8.0 (dummy-ups serving the
# harness's BX1600MI data, users monuser/secret = upsmon primary + SET FSD + instcmds ALL and
# secuser/secpass = upsmon secondary) and against NutServer serving the same variables, types,
# commands, descriptions and users. The bytes each connection receives must be identical, apart
# from the version banner and tracking UUIDs. Add a case for every bug found.
#
# Syntax
#   case <name>          starts a case; every case opens fresh connections and closes them at its end
#   | <text>             one packet: <text> and a newline (sent as is, trailing spaces included)
#   > <json>             one packet: a JSON string (bytes 0-255 as \u00XX), or an array whose items are
#                        strings or [string, count] repeats, concatenated
#   @<conn> | … / > …    the packet goes on connection <conn> (default: a)
#   state <name>         from here on the UPS is 'ok' or 'driver-not-connected' (driver killed)
# Cases that set FSD stay at the end: upsd only clears the latch when it restarts.
# Every packet is sent alone and answered before the next one goes out, so that upsd's read()
# boundaries (a parse error drops the rest of a 512-byte read) are the same for both servers.

state ok

# ---- informational commands --------------------------------------------------------------------
case version and help
| VER
| NETVER
| PROTVER
| HELP
| ver
| Help

case informational commands take no arguments
| VER x
| NETVER 1
| PROTVER a b
| HELP me

case unknown and empty lines
| FOO
| FOO BAR
|
|    	
| # only a comment
| VER # trailing comment
> "VER\r\n"
> "\r\n"

# ---- GET -----------------------------------------------------------------------------------------
case GET VAR
| GET VAR ups ups.status
| GET VAR ups battery.charge
| GET VAR ups device.mfr
| GET VAR ups nonexistent.var
| GET VAR nosuchups ups.status
| get var UPS Ups.Status
| GET var ups BATTERY.CHARGE

# upsmon 2.8.3+ also asks for these every poll: a server must answer them cleanly.
case variables newer upsmon polls for
| GET VAR ups ups.mode.buzzwords
| GET VAR ups experimental.ups.mode.buzzwords
| GET VAR ups ups.alarm

case GET argument counts
| GET
| GET VAR
| GET VAR ups
| GET VAR ups ups.status extra words here
| GET FOO
| GET FOO bar
| GET FOO bar baz
| GET NUMLOGINS
| GET UPSDESC

case GET VAR server variables ignore the UPS name
| GET VAR ups server.version
| GET VAR nosuchups server.version
| GET VAR ups SERVER.VERSION
| GET VAR ups server.info
| GET VAR ups server.foo
| GET VAR x server.

case GET TYPE
| GET TYPE ups battery.charge
| GET TYPE ups ups.status
| GET TYPE ups input.sensitivity
| GET TYPE ups ups.test.result
| GET TYPE ups driver.name
| GET TYPE ups driver.version.internal
| GET TYPE ups nonexistent.var
| GET TYPE nosuchups ups.status

case GET DESC and CMDDESC
| GET DESC ups ups.status
| GET DESC ups battery.charge
| GET DESC ups nonexistent.var
| GET DESC UPS Ups.Status
| GET DESC nosuchups ups.status
| GET CMDDESC ups load.off
| GET CMDDESC ups no.such.command
| GET CMDDESC ups LOAD.OFF
| GET CMDDESC nosuchups load.off

case GET UPSDESC and NUMLOGINS
| GET UPSDESC ups
| GET UPSDESC UPS
| GET UPSDESC nosuchups
| GET NUMLOGINS ups
| GET NUMLOGINS Ups
| GET NUMLOGINS nosuchups

case GET TRACKING without tracking
| GET TRACKING
| GET TRACKING 12345
| GET tracking 00000000-0000-4000-8000-000000000000 more

# ---- LIST ----------------------------------------------------------------------------------------
case LIST framing
| LIST UPS
| LIST VAR ups
| LIST RW ups
| LIST CMD ups
| LIST CLIENT ups

case LIST echoes the names as sent
| list var UPS
| LIST ups
| LIST Ups x
| LIST cmd Ups
| LIST client UPS

case LIST errors
| LIST
| LIST VAR
| LIST VAR nosuchups
| LIST RW nosuchups
| LIST CMD nosuchups
| LIST CLIENT nosuchups
| LIST FOO
| LIST FOO bar
| LIST FOO bar baz
| LIST ENUM ups
| LIST RANGE ups

case LIST ENUM and RANGE
| LIST ENUM ups ups.status
| LIST RANGE ups battery.charge
| LIST ENUM ups nonexistent.var
| LIST RANGE ups nonexistent.var
| LIST ENUM nosuchups ups.status
| LIST range UPS Battery.Charge

# ---- USERNAME / PASSWORD and the authentication gate ----------------------------------------------
case USERNAME and PASSWORD arguments
| USERNAME
| USERNAME a b
| PASSWORD
| PASSWORD has a space
| PASSWORD "has a space"
| USERNAME "monuser"
| USERNAME again
| PASSWORD again

case privileged commands need USERNAME then PASSWORD
| LOGIN ups
| LOGIN
| PRIMARY ups
| MASTER ups
| FSD ups
| SET VAR ups ups.status OL
| SET TRACKING ON
| INSTCMD ups load.off
| USERNAME monuser
| LOGIN ups
| FSD
| SET
| INSTCMD

case LOGIN
| USERNAME monuser
| PASSWORD secret
| LOGIN
| LOGIN a b
| LOGIN nosuchups
| LOGIN ups
| LOGIN ups
| GET NUMLOGINS ups
| LIST CLIENT ups

case LOGIN with a wrong password or an unknown user
@a | USERNAME monuser
@a | PASSWORD wrong
@a | LOGIN ups
@a | LOGIN nosuchups
@b | USERNAME nobody
@b | PASSWORD secret
@b | LOGIN ups
@c | USERNAME Monuser
@c | PASSWORD secret
@c | LOGIN ups

case secondary rights
| USERNAME secuser
| PASSWORD secpass
| LOGIN ups
| PRIMARY ups
| MASTER ups
| FSD ups
| SET VAR ups ups.status OL
| INSTCMD ups load.off
| INSTCMD ups no.such.command
| SET TRACKING ON
| GET TRACKING
| GET NUMLOGINS ups

case primary rights
| USERNAME monuser
| PASSWORD secret
| PRIMARY ups
| MASTER ups
| PRIMARY Ups
| PRIMARY nosuchups
| PRIMARY
| MASTER a b
| LOGIN ups
| PRIMARY ups

case quoted and escaped credentials
| USERNAME "mon\user"
| PASSWORD "sec\ret"
| LOGIN ups

case NUMLOGINS and LIST CLIENT across connections
@a | USERNAME monuser
@a | PASSWORD secret
@a | LOGIN ups
@b | USERNAME secuser
@b | PASSWORD secpass
@b | LOGIN ups
@c | GET NUMLOGINS ups
@c | LIST CLIENT ups
@b | LOGOUT
@c | GET NUMLOGINS ups
@c | LIST CLIENT ups

# ---- SET and INSTCMD ---------------------------------------------------------------------------
case SET VAR checks in upsd's order
| USERNAME monuser
| PASSWORD secret
| SET
| SET VAR
| SET VAR ups
| SET VAR ups ups.test.result
| SET VAR nosuchups ups.test.result x
| SET VAR ups nonexistent.var x
| SET VAR ups driver.name x
| SET VAR ups input.sensitivity medium
| SET VAR ups ups.test.result "Done and passed"
| SET VAR ups ups.test.result "Done and passed" extra
| SET FOO bar
| SET TRACKING
| SET TRACKING MAYBE
| SET TRACKING on
| GET TRACKING
| SET VAR ups ups.test.result "Done and passed"
| GET TRACKING 00000000-0000-4000-8000-000000000000
| SET TRACKING OFF
| GET TRACKING

case SET VAR with a wrong password
| USERNAME monuser
| PASSWORD wrong
| SET VAR ups ups.test.result x
| SET VAR nosuchups ups.test.result x
| SET VAR ups nonexistent.var x

case INSTCMD checks in upsd's order
| USERNAME monuser
| PASSWORD secret
| INSTCMD
| INSTCMD ups
| INSTCMD nosuchups load.off
| INSTCMD ups no.such.command
| INSTCMD ups load.off
| INSTCMD Ups LOAD.OFF
| INSTCMD ups load.off 10
| INSTCMD ups load.off 10 20
| SET TRACKING ON
| INSTCMD ups load.off

# ---- STARTTLS and LOGOUT -----------------------------------------------------------------------
case STARTTLS without a certificate
| STARTTLS
| STARTTLS now please
| starttls

case LOGOUT arguments
| LOGOUT now
| VER

case LOGOUT closes the connection
| LOGOUT
| VER

# upsd closes after LOGOUT by zeroing the connection's last-heard time; a later line in the same
# read sets it again, so this connection stays open (found by this corpus: NutServer closed it).
case LOGOUT followed by more lines in the same read does not close
> "LOGOUT\nVER\nGET VAR ups ups.status\n"
| NETVER

case LOGOUT as the last line of a read closes
> "VER\nLOGOUT\n"
| NETVER

case LOGOUT after LOGIN
| USERNAME secuser
| PASSWORD secpass
| LOGIN ups
| LOGOUT

# ---- pipelining --------------------------------------------------------------------------------
case pipelined requests are answered in order
> "VER\nGET VAR ups ups.status\nLIST CMD ups\nGET VAR ups nonexistent.var\nNETVER\n"
> "USERNAME monuser\nPASSWORD secret\nLOGIN ups\nGET NUMLOGINS ups\nPRIMARY ups\n"

case a line split over several packets
> "GET VAR u"
> "ps ups.st"
> "atus\n"
> "LIST CMD ups\nGET VAR"
> " ups battery.charge\n"

# ---- the tokenizer ---------------------------------------------------------------------------------
case quoting and escapes
| GET VAR "ups" "ups.status"
| "GET" "VAR" "ups" "ups.status"
| GET VAR ups ups\.status
| GET VAR u\ps ups.status
| GET VAR "u\ps" ups.status
| GET VAR "" ups.status
| GET VAR ups ""
| GET DESC ups "a b"
| GET DESC ups "a\"b"
| GET DESC ups "a\\b"
| GET DESC ups a"b
| GET DESC ups "a"b
| GET DESC ups a\#b
| GET DESC ups "a\#b"

case equals signs are words of their own
| GET VAR ups=ups.status
| GET = ups ups.status
| GET VAR ups "x=y"
| GET DESC ups a=b
| GET DESC ups ==
| GET DESC ups a==

case comments
| GET VAR ups ups.status#comment
| GET VAR ups ups.status #comment
| GET VAR ups #ups.status
| #GET VAR ups ups.status
| GET DESC ups "a" # b

case backslash-newline continues the line
> "GET VAR ups \\\nups.status\n"
> "GET DESC ups a\\\nb\n"
> "GET DESC ups \"a\\\nb\"\n"

case an unterminated quote runs across lines
> "GET DESC ups \"abc\nVER\n"
> "\" x\n"

case a hash inside quotes is a parse error that drops the rest of the read
> "GET VAR \"u#ps\" ups.status\nVER\n"
| VER
> "VER\nGET DESC ups \"a#b\" c\nNETVER\nHELP\n"
| NETVER

case control characters and bytes above 0x7f are dropped
> "\u0001VER\n"
> "\u0001 VER\n"
> "V\u0080ER\n"
> "V\u00ffE\u0000R\n"
> "VER\u007f\n"
> "GET VAR ups ups.\u0007status\n"
> "GET DESC ups \"a\tb\"\n"
> "\u0000\u0000\n"

case whitespace variants
> "  GET\tVAR\u000bups\u000cups.status  \n"
> "GET VAR ups ups.status\r\r\n"

# ---- oversized input ---------------------------------------------------------------------------
case a 600-character word is cut at 512
> ["GET VAR ups ", ["A", 600], "\n"]
> ["GET VAR ", ["u", 600], " ups.status\n"]
| VER

case an answer longer than 512 bytes is cut without its newline
> ["GET DESC ups ", ["d", 600], "\n"]
| VER
> ["GET CMDDESC ups ", ["c", 510], "\n"]
| NETVER

case words past the 32nd are dropped
> ["VER", [" x", 40], "\n"]
> ["GET VAR ups ups.status", [" extra", 40], "\n"]
> ["GET DESC ups", [" w", 31], "\n"]

case long lines of comments and spaces
> ["#", ["c", 4000], "\nVER\n"]
> [["  ", 3000], "VER\n"]
> ["GET VAR ups ups.status ", ["#", 3000], "\n"]

case a pipelined read larger than 512 bytes with a parse error in the first 512
> ["VER\n", "GET DESC ups \"x#\"\n", ["GET VAR ups ups.status\n", 30]]
| HELP

case a pipelined read larger than 512 bytes with a parse error after the first 512
> [["GET VAR ups ups.status\n", 24], "GET DESC ups \"x#\"\n", ["NETVER\n", 20]]
| HELP

# ---- the driver is gone ------------------------------------------------------------------------
state driver-not-connected

case without a driver: reads fail, descriptions and clients still answer
| GET VAR ups ups.status
| LIST VAR ups
| LIST RW ups
| LIST CMD ups
| GET TYPE ups ups.status
| GET DESC ups ups.status
| GET CMDDESC ups load.off
| GET NUMLOGINS ups
| LIST ENUM ups ups.status
| LIST RANGE ups battery.charge
| GET UPSDESC ups
| LIST CLIENT ups
| LIST UPS
| GET VAR ups server.version
| GET VAR nosuchups ups.status

case without a driver: availability is checked before rights
| USERNAME secuser
| PASSWORD wrongpass
| SET VAR ups ups.status OL
| INSTCMD ups load.off
| INSTCMD ups no.such.command
| LOGIN ups
| PRIMARY ups

case without a driver: LOGIN still works
| USERNAME monuser
| PASSWORD secret
| LOGIN ups
| LIST CLIENT ups

# ---- FSD (last: upsd keeps the latch until it restarts) -----------------------------------------
state ok

case FSD needs the right
| USERNAME secuser
| PASSWORD secpass
| FSD ups
| FSD
| FSD nosuchups
| GET VAR ups ups.status

case FSD latches and prefixes ups.status for everyone
@a | USERNAME monuser
@a | PASSWORD secret
@a | FSD ups
@a | GET VAR ups ups.status
@b | GET VAR ups ups.status
@b | GET VAR UPS UPS.STATUS
@b | LIST VAR ups
@b | LIST RW ups
@a | FSD Ups
@a | GET VAR ups ups.status
