"""The what-if replay: a period's recorded arrivals through the rules' own walk
(`plan.waits_of` over `plan_journey`) and the live scheduler (`dispatch.assign`), with
simulated operators on simpy's clock (`model.replay`)."""
