"""Set-up only, never imported by training: the pinned upstreams and their cache
(`upstreams`), pip with one constraints file (`packages`), the patched EPyMARL checkout
(`checkout`), SMAClite's C++ RVO2 (`rvo2`), all of it (`bootstrap`) and `doctor`."""
