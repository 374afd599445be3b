"""Forward-mode state: the active dual level (-1 when none) and whether a JVP is being computed."""


class _State:
    __slots__ = ("level", "busy", "next")

    def __init__(self):
        self.level = -1
        self.busy = False
        self.next = 0


state = _State()
