from prmkit.cli import main

main()
