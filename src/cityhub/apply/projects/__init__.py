"""Digital-economy key projects (数字经济重点项目): the register, its progress reports, its import and pages."""
