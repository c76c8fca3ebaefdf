"""数 三清单: the need list (demands), objections, the responsibility list (KPIs) and the list exports."""
