"""Standard device profiles (codes and metric keys other layers' rules refer to; see docs/contracts.md)."""

from __future__ import annotations

from typing import Any

# code, name, name_en, description, metrics (key, name, name_en, unit, type, min, max, interval_s)
PROFILES: tuple[dict[str, Any], ...] = (
    {"code": "bridge-health", "name": "桥梁结构健康监测", "name_en": "Bridge structural health",
     "description": "应变、挠度、温度与振动（桥梁结构健康监测系统）",
     "metrics": [
         {"key": "strain", "name": "应变", "name_en": "Strain", "unit": "με", "min": -3000, "max": 3000,
          "interval_s": 10},
         {"key": "deflection", "name": "挠度", "name_en": "Deflection", "unit": "mm", "min": -1000, "max": 1000,
          "interval_s": 10},
         {"key": "temperature", "name": "温度", "name_en": "Temperature", "unit": "°C", "min": -40, "max": 80,
          "interval_s": 60},
         {"key": "vibration", "name": "振动速度", "name_en": "Vibration", "unit": "mm/s", "min": 0, "max": 500,
          "interval_s": 10},
     ]},
    {"code": "pipe-gallery", "name": "综合管廊环境监测", "name_en": "Utility tunnel environment",
     "description": "甲烷、积水、氧气与温度（综合管廊监控与报警系统）",
     "metrics": [
         {"key": "ch4", "name": "甲烷浓度", "name_en": "Methane", "unit": "%LEL", "min": 0, "max": 100,
          "interval_s": 30},
         {"key": "water_level", "name": "积水水位", "name_en": "Water level", "unit": "mm", "min": 0, "max": 5000,
          "interval_s": 30},
         {"key": "o2", "name": "氧气浓度", "name_en": "Oxygen", "unit": "%", "min": 0, "max": 30, "interval_s": 30},
         {"key": "temperature", "name": "温度", "name_en": "Temperature", "unit": "°C", "min": -20, "max": 80,
          "interval_s": 60},
     ]},
    {"code": "traffic-flow", "name": "交通流量检测", "name_en": "Traffic flow",
     "description": "断面流量、平均速度与占有率（微波/视频检测器）",
     "metrics": [
         {"key": "flow", "name": "流量", "name_en": "Flow", "unit": "veh/h", "min": 0, "max": 20000,
          "interval_s": 60},
         {"key": "speed", "name": "平均速度", "name_en": "Speed", "unit": "km/h", "min": 0, "max": 200,
          "interval_s": 60},
         {"key": "occupancy", "name": "占有率", "name_en": "Occupancy", "unit": "%", "min": 0, "max": 100,
          "interval_s": 60},
     ]},
    {"code": "air-noise", "name": "空气质量与噪声", "name_en": "Air quality and noise",
     "description": "PM2.5 与环境噪声（公共空间微站）",
     "metrics": [
         {"key": "pm25", "name": "PM2.5", "name_en": "PM2.5", "unit": "µg/m³", "min": 0, "max": 1000,
          "interval_s": 60},
         {"key": "noise", "name": "噪声", "name_en": "Noise", "unit": "dB(A)", "min": 20, "max": 140,
          "interval_s": 60},
     ]},
    {"code": "building-safety", "name": "房屋安全监测", "name_en": "Building safety",
     "description": "倾斜与裂缝宽度（危房与老旧建筑监测）",
     "metrics": [
         {"key": "tilt", "name": "倾斜角", "name_en": "Tilt", "unit": "°", "min": -30, "max": 30, "interval_s": 300},
         {"key": "crack_width", "name": "裂缝宽度", "name_en": "Crack width", "unit": "mm", "min": 0, "max": 100,
          "interval_s": 300},
     ]},
)
