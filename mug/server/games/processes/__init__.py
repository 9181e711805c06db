"""Games in forked processes: the server's side (`parent`), the game process (`child`), the pipe between."""
