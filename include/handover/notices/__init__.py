"""Customers told, heard and kept current (PIPL Art. 15, 17, 22, 44–46).

- :mod:`~handover.notices.render` — the transfer notice's texts from the contract, in Chinese, from the
  templates in ``templates/`` (Jinja2; the HTML escaped): SMS (counted in segments), e-mail (text and
  HTML), letter, public announcement (公告).
- :mod:`~handover.notices.outbox` — a notice run: one notice per loaded customer, decided with its outbox
  message in one transaction (``control.notices``, ``control.outbox``: the customer's key and the channel,
  never an address), and the counts.
- :mod:`~handover.notices.channels` — e-mail over SMTP, SMS through an HTTP gateway, letters to a print
  batch: one interface.
- :mod:`~handover.notices.deliver` — drains the outbox in batches at a rate, decrypting contacts one batch
  at a time; retries with back-off; never sends a message twice (its idempotency key).
- :mod:`~handover.notices.objections` — objections and withdrawals (processing stopped at once, handed to
  erasure) and marketing opt-outs (which never stop the notices the law requires).
"""
