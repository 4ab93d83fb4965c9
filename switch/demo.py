"""`make demo`: the main job. For now it shows the LPS-87 codec; the switch demo grows here."""

from iso8583.demo import main

if __name__ == "__main__":
    main()
