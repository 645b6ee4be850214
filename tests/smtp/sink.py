"""An aiosmtpd handler for herald's tests: a real SMTP server on loopback that keeps every
accepted message byte for byte (envelope.original_content, before any decoding) as
DIR/NNNN.eml, with its envelope recipients in DIR/NNNN.rcpt.

While a file DIR/refuse exists, DATA is answered with its text (e.g. "451 4.3.0 try
later"), so tests can make the server refuse.

    python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c sink.Sink DIR   (with PYTHONPATH=tests/smtp)
"""

import os


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("sink.Sink takes one argument: the directory to write messages to")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        refuse = os.path.join(self.directory, "refuse")
        if os.path.exists(refuse):
            with open(refuse) as answer:
                return answer.read().strip()
        self.count += 1
        stem = os.path.join(self.directory, "%04d" % self.count)
        with open(stem + ".rcpt", "w") as rcpt:
            rcpt.write("\n".join(envelope.rcpt_tos))
        with open(stem + ".eml.part", "wb") as message:
            message.write(envelope.original_content)
        os.rename(stem + ".eml.part", stem + ".eml")
        return "250 OK"
