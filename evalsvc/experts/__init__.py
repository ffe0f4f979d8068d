"""The expert pool (评标专家库), recusal and composition rules, the seed ceremony and the draw.

Pure modules: :mod:`.specialties`, :mod:`.pool`, :mod:`.synth`, :mod:`.rules`,
:mod:`.seed`, :mod:`.ceremony`, :mod:`.draw`, :mod:`.invitations`, :mod:`.bundle`.
:mod:`.cli` does the file I/O. The algorithm is specified in ``docs/draw.md``.
"""
