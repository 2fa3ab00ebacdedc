from ddx.cli import main

main()
