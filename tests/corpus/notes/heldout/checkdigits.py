#!/usr/bin/env python3
"""Tiny helper used while hand-writing the held-out corpus.

It ONLY appends check characters to number bodies typed in by hand;
it does not generate, choose or write any note text.

  checkdigits.py id  <17-digit body> ...   -> GB 11643 resident ID (18 chars)
  checkdigits.py luhn <body> ...           -> body + Luhn digit
  checkdigits.py hkid <A123456|AB123456>   -> HKID with check char in ()
  checkdigits.py twid <A12345678>          -> Taiwan ID (10 chars)
"""
import sys

W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def gb11643(body):
    s = sum(int(c) * w for c, w in zip(body, W))
    return "10X98765432"[s % 11]


def luhn(body):
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def hkid(body):
    letters, digits = body[:-6], body[-6:]
    vals = [36] if len(letters) == 1 else []
    vals += [ord(ch) - 55 for ch in letters]
    vals += [int(c) for c in digits]
    s = sum(v * w for v, w in zip(vals, range(9, 1, -1)))
    r = 11 - s % 11
    return {10: "A", 11: "0"}.get(r, str(r))


TW = dict(zip("ABCDEFGHJKLMNPQRSTUVXYWZIO",
              range(10, 36)))


def twid(body):
    n = TW[body[0]]
    s = n // 10 + (n % 10) * 9
    s += sum(int(c) * w for c, w in zip(body[1:], [8, 7, 6, 5, 4, 3, 2, 1]))
    return str((10 - s % 10) % 10)


if __name__ == "__main__":
    kind, bodies = sys.argv[1], sys.argv[2:]
    for b in bodies:
        if kind == "id":
            assert len(b) == 17, b
            print(b + gb11643(b))
        elif kind == "luhn":
            print(b + luhn(b))
        elif kind == "hkid":
            print(f"{b}({hkid(b)})")
        elif kind == "twid":
            print(b + twid(b))
