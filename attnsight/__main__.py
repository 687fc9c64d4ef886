from attnsight.cli import main

main()
