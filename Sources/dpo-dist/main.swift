// Entry point placeholder.
print("dpo-dist")
