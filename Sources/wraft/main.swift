// The wraft command line. Its owner replaces this file with the ArgumentParser commands.
print("wraft: not built yet")
