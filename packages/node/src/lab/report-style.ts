/** The report's stylesheet (inlined into index.html: no network). Mobile first; two columns of figures on wide screens. */
export const REPORT_CSS = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 "DejaVu Sans",system-ui,sans-serif;color:#222;background:#fafafa}
h1,p{overflow-wrap:anywhere}
header,main,nav{max-width:1100px;margin:0 auto;padding:0 16px}
header{padding-top:16px}
h1{font-size:1.6em;margin:.4em 0}
h2{font-size:1.3em;border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:2em}
h3{font-size:1.05em;margin:1.4em 0 .4em}
nav ol{padding-left:1.4em;columns:2;column-gap:2em}
@media (max-width:600px){nav ol{columns:1}}
.explain{background:#eef4fb;border-left:4px solid #4a90d9;padding:8px 12px;margin:8px 0}
.missing{background:#fff4e5;border-left:4px solid #e69500;padding:8px 12px}
.omitted{background:#f0f0f0;border-left:4px solid #999;padding:8px 12px;color:#444}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:16px}
figure{margin:0;background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:8px;overflow-x:auto}
figure.wide{grid-column:1/-1}
figure img{display:block;max-width:100%;height:auto;margin:0 auto;image-rendering:pixelated}
figure.smooth img{image-rendering:auto}
figcaption{font-size:.85em;color:#555;margin-top:4px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.85em;margin:8px 0;background:#fff}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}
td.num{text-align:right}
td.text{min-width:6em}
td.text:nth-child(2){min-width:14em}
td.chosen,th.chosen{background:#ffe9a8;font-weight:bold}
.timeline{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:8px;margin:12px 0}
.timeline input[type=range]{width:100%}
.timeline img{display:block;max-width:100%;height:auto;margin:0 auto;image-rendering:pixelated}
.meta{color:#666;font-size:.85em}
.bar{display:inline-block;height:10px;background:#4a90d9;vertical-align:middle}
`;
