from xolo.cli.main import main

main()
