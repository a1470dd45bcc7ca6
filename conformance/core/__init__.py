"""Foundation types shared by every layer; imports nothing else of the package."""
