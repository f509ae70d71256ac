"""zeroG's commands: ``zerog-worker`` (``worker``), ``zerog`` (``admin``) and ``zerog-server``
(``server``). Each is a ``main(argv)`` returning the exit status."""
