"""Inside the home: the local broker and Home Assistant discovery."""
