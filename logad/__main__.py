from logad.cli import main

main()
