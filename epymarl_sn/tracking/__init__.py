"""Where runs are recorded: MongoDB connections that never show credentials (`mongo`),
the MongoObserver (`observer`), the run stores read by every command (`store`), CSV
export (`export`) and saved models as artifacts (`saved_models`)."""
