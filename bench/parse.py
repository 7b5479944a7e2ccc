"""Reading a lead email: CPU per message of intake's parser, against the standard library's
parse alone, in one run (#21).

    python bench/parse.py [--rounds 20] [--dir ../shared/corpus/leads]

For every ``.eml`` of the directory (the corpus's sample leads, bounces and replies), the best
of ``--rounds`` passes of:

- bare: ``email.message_from_bytes(raw, policy=policy.default)`` and one read of its
  Subject, From and Content-Type: what any reader of the message pays;
- mailflow: ``parse_message`` (MIME, layouts, vocabularies, the lead validated), as the
  inbound job runs it;
- mailflow with every header parsed at each read (the stdlib's default, before #21's registry
  that keeps what it parsed): the same, with ``policy.default`` itself.

Prints CPU per message and the ratios. Behaviour is the tests' business; this asserts nothing.
"""

from __future__ import annotations

import argparse
import email
import time
from email import policy
from pathlib import Path

from mailflow.domain.intake import mime
from mailflow.domain.intake.parse import parse_message

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "leads"


def best(rounds: int, work) -> float:
    fastest = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        work()
        fastest = min(fastest, time.process_time() - started)
    return fastest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--dir", type=Path, default=CORPUS)
    args = parser.parse_args()
    raws = [path.read_bytes() for path in sorted(args.dir.glob("*.eml"))]
    if not raws:
        print(f"no .eml files in {args.dir}")
        return 2

    def bare() -> None:
        for raw in raws:
            message = email.message_from_bytes(raw, policy=policy.default)
            message["Subject"], message["From"], message.get_content_type()

    def ours() -> None:
        for raw in raws:
            parse_message(raw, envelope_to=["leads@localhost"])

    def every_read() -> None:
        kept = mime.message_from_bytes
        mime.message_from_bytes = lambda raw: email.message_from_bytes(raw, policy=policy.default)
        try:
            ours()
        finally:
            mime.message_from_bytes = kept

    ours()  # compiled patterns, vocabularies and locale data loaded once, before measuring
    figures = {
        name: best(args.rounds, work) / len(raws) * 1000
        for name, work in (("bare", bare), ("mailflow", ours), ("every read", every_read))
    }
    print(f"{len(raws)} messages from {args.dir}, best of {args.rounds} passes, CPU per message")
    print(f"  bare stdlib parse + 3 header reads:          {figures['bare']:6.3f} ms")
    print(
        f"  mailflow parse_message:                      {figures['mailflow']:6.3f} ms"
        f"  ({figures['mailflow'] / figures['bare']:.1f} x bare)"
    )
    print(
        f"  the same, each header parsed at every read:  {figures['every read']:6.3f} ms"
        f"  ({figures['every read'] / figures['bare']:.1f} x bare;"
        f" the registry saves {1 - figures['mailflow'] / figures['every read']:.0%})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
