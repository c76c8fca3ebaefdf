// Small shared helpers for pages: ECharts resize and a chart helper that tolerates a missing library.
window.cityhub = {
  chart(el, option) {
    if (!window.echarts || !el) return null;
    const c = echarts.getInstanceByDom(el) || echarts.init(el);
    c.setOption(option, true);
    window.addEventListener('resize', () => c.resize());
    return c;
  },
};
