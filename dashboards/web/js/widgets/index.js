// Widget renderers by `type`. A board's layout comes from its definition
// (dashboards/boards/*.toml, via the API); this table only knows how each
// type draws. Renderers take (body element, widget definition, data, context)
// and must leave something readable in `body`: data, an empty state or an error.

import { replaceChildren } from '../dom.js';
import { t } from '../i18n.js';
import { emptyState, errorState } from './common.js';
import * as kpiTiles from './kpi_tiles.js';
import * as trend from './trend.js';
import * as tagRanking from './tag_ranking.js';
import * as risingIssues from './rising_issues.js';
import * as split from './split.js';
import * as heatmap from './heatmap.js';
import * as keywords from './keywords.js';
import * as praiseComplaint from './praise_complaint.js';
import * as refundReasons from './refund_reasons.js';
import * as followup from './followup.js';
import * as alerts from './alerts.js';

export const RENDERERS = {
  kpi_tiles: kpiTiles.render,
  trend: trend.render,
  tag_ranking: tagRanking.render,
  rising_issues: risingIssues.render,
  split: split.render,
  heatmap: heatmap.render,
  keywords: keywords.render,
  praise_complaint: praiseComplaint.render,
  refund_reasons: refundReasons.render,
  followup_stats: followup.renderStats,
  followup_queue: followup.renderQueue,
  alerts: alerts.render,
};

export function renderWidget(body, widget, data, context) {
  const renderer = RENDERERS[widget.type];
  if (!renderer) {
    replaceChildren(body, emptyState(t('common.widget_unknown', { type: widget.type })));
    return;
  }
  if (data && typeof data === 'object' && data.error) {
    replaceChildren(body, errorState({ message: data.error.message || data.error.code || String(data.error) }));
    return;
  }
  if (data === undefined || data === null) {
    replaceChildren(body, emptyState(t('common.widget_no_data')));
    return;
  }
  try {
    renderer(body, widget, data, context);
  } catch (error) {
    // A renderer bug must not blank the whole board: show it where it happened.
    console.error(`widget ${widget.id} (${widget.type})`, error);
    replaceChildren(body, errorState(error));
  }
}
