//! Every user-facing string of the browser UI, Korean first and English
//! second, behind one lookup: [`t`]. Pages pick the language from `?lang=`,
//! else the `dasan_lang` cookie, else Korean.

use axum::http::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ko,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    /// `?lang=` wins, then a `dasan_lang` cookie (the user's switch), else
    /// Korean. The browser's Accept-Language is deliberately not consulted:
    /// the center's screens are Korean unless a person chooses otherwise.
    pub fn choose(query: Option<&str>, headers: &HeaderMap) -> Lang {
        let cookie = crate::session::cookie(headers, "dasan_lang");
        match query.or(cookie) {
            Some("en") => Lang::En,
            _ => Lang::Ko,
        }
    }
}

/// `(key, Korean, English)`.
const MESSAGES: &[(&str, &str, &str)] = &[
    ("reports.title", "상담 통계 보고서", "Consultation reports"),
    ("reports.filters", "조건", "Filters"),
    ("reports.from", "시작일", "From"),
    ("reports.to", "종료일", "To"),
    ("reports.category", "분류", "Category"),
    ("reports.channel", "채널", "Channel"),
    ("reports.any", "전체", "All"),
    ("reports.apply", "적용", "Apply"),
    ("reports.total", "총 상담 건수", "Total consultations"),
    ("reports.period", "기간", "Period"),
    (
        "reports.cumulative",
        "누적 상담 건수와 백만 건 달성일",
        "Cumulative consultations and million milestones",
    ),
    ("reports.milestone", "달성일", "Reached on"),
    (
        "reports.monthly",
        "월별 일평균 상담 건수",
        "Daily average per month",
    ),
    ("reports.categories", "분류별 비중", "Share by category"),
    ("reports.channels", "채널별 비중", "Channel mix"),
    (
        "reports.night",
        "심야(00~06시) 상담 건수",
        "Night consultations (00:00-06:00)",
    ),
    ("reports.heavy", "다수 이용자 구간", "Heavy-user tiers"),
    (
        "reports.heavy_note",
        "이용자별 전체 기간 기준",
        "Over each citizen's whole history",
    ),
    (
        "reports.handle",
        "분류별 평균 상담 시간(초)",
        "Average handle time by category (s)",
    ),
    ("reports.month", "월", "Month"),
    ("reports.count", "건수", "Count"),
    ("reports.share", "비중", "Share"),
    ("reports.average", "평균", "Average"),
    ("reports.seconds", "초", "s"),
    ("reports.tier", "구간", "Tier"),
    ("reports.citizens", "이용자 수", "Citizens"),
    ("reports.download", "내려받기", "Download"),
    (
        "reports.satisfaction",
        "상담 만족도 (5점 중 4~5점 비율, 월별)",
        "Satisfaction (share answering 4-5 of 5, by month)",
    ),
    ("reports.satisfied_share", "만족 비율", "Satisfied"),
    ("reports.responses", "응답", "responses"),
    (
        "reports.satisfaction_agents",
        "상담사별 만족도",
        "Satisfaction by agent",
    ),
    ("reports.agent", "상담사", "Agent"),
    ("reports.mean_score", "평균 점수", "Mean score"),
    (
        "reports.no_agent",
        "상담사 없음 (API 기록)",
        "No agent (recorded by API)",
    ),
    ("reports.all", "전체", "All"),
    ("reports.empty", "자료 없음", "No data"),
    ("signin.title", "다산 상담센터 로그인", "Sign in to Dasan"),
    ("signin.username", "아이디", "Username"),
    ("signin.password", "비밀번호", "Password"),
    ("signin.submit", "로그인", "Sign in"),
    (
        "signin.failed",
        "아이디 또는 비밀번호가 올바르지 않습니다.",
        "Wrong username or password.",
    ),
    (
        "signin.locked",
        "로그인 실패가 반복되어 잠시 잠겼습니다. 15분 뒤 다시 시도하세요.",
        "Too many failed attempts: try again in 15 minutes.",
    ),
    (
        "signin.csrf",
        "페이지가 만료되었습니다. 다시 로그인하세요.",
        "This page has expired: please sign in again.",
    ),
    (
        "signin.bad_form",
        "입력 양식이 올바르지 않습니다.",
        "The form was not filled in correctly.",
    ),
    ("signin.signed_in_as", "로그인 사용자:", "Signed in as"),
    ("signin.signout", "로그아웃", "Sign out"),
    ("brand", "다산 민원상담센터", "Dasan contact center"),
    ("nav.label", "주 메뉴", "Main menu"),
    ("nav.home", "처음으로", "Home"),
    ("page.forbidden", "접근 권한 없음", "Not allowed"),
    (
        "page.forbidden_detail",
        "이 화면은 사용자의 역할로 볼 수 없습니다. 시도는 기록되었습니다.",
        "Your role may not open this page. The attempt was logged.",
    ),
    ("desktop.title", "상담원 화면", "Agent desktop"),
    ("desktop.presence", "근무 상태", "Presence"),
    ("desktop.presence_now", "현재 상태:", "Now:"),
    ("desktop.since", "부터", "since"),
    ("presence.go_available", "상담 가능", "Available"),
    ("presence.go_break", "휴식", "Break"),
    ("presence.go_offline", "업무 종료", "Sign off"),
    ("presence.offline", "업무 종료", "Signed off"),
    ("presence.available", "상담 대기", "Available"),
    ("presence.reserved", "배정 중", "Offered"),
    ("presence.busy", "상담 중", "Busy"),
    ("presence.wrap_up", "후처리", "Wrap-up"),
    ("presence.break", "휴식", "Break"),
    ("desktop.offer", "새 상담 요청", "Incoming contact"),
    (
        "desktop.offer_arrived",
        "새 상담 요청이 도착했습니다",
        "A new contact is offered",
    ),
    ("desktop.remaining", "남은 시간", "Time left"),
    ("desktop.seconds", "초", "s"),
    ("desktop.accept", "수락", "Accept"),
    ("desktop.decline", "거절", "Decline"),
    ("desktop.contact", "상담 중인 민원", "Current contact"),
    ("desktop.channel", "채널", "Channel"),
    ("desktop.phone", "전화번호", "Phone"),
    ("desktop.category_hinted", "선택 분야", "Chosen topic"),
    ("desktop.queue", "대기열", "Queue"),
    ("desktop.waited", "대기 시간", "Waited"),
    (
        "desktop.history",
        "이 민원인의 상담 이력",
        "This citizen's history",
    ),
    ("desktop.contacts", "응대 중인 상담", "Open contacts"),
    ("desktop.thread", "문자 대화", "Text conversation"),
    ("desktop.reply", "답장", "Reply"),
    ("desktop.send", "보내기", "Send"),
    ("desktop.bytes", "바이트", "bytes"),
    (
        "desktop.reply_failed",
        "답장을 보내지 못했습니다:",
        "The reply was not sent:",
    ),
    ("message.inbound", "민원인", "Citizen"),
    ("message.outbound", "상담센터", "Center"),
    ("message.media", "첨부 사진", "Attached photo"),
    ("message.media_pending", "받는 중", "arriving"),
    (
        "message.media_refused",
        "형식이나 크기가 맞지 않아 받지 않음",
        "refused (type or size)",
    ),
    ("message.media_failed", "받지 못함", "could not be fetched"),
    ("message.status.received", "받음", "received"),
    ("message.status.queued", "발송 대기", "queued"),
    ("message.status.retrying", "재시도 중", "retrying"),
    ("message.status.sent", "발송됨", "sent"),
    ("message.status.delivered", "전달됨", "delivered"),
    ("message.status.read", "읽음", "read"),
    ("message.status.failed", "발송 실패", "failed"),
    ("message.status.undelivered", "전달 실패", "undelivered"),
    ("message.status.opted_out", "수신 거부", "opted out"),
    (
        "desktop.no_history",
        "이전 상담이 없습니다.",
        "No earlier consultations.",
    ),
    (
        "desktop.history_failed",
        "상담 이력을 불러오지 못했습니다.",
        "The history could not be loaded.",
    ),
    ("desktop.form", "상담 기록", "Consultation record"),
    ("desktop.category", "상담 분류", "Category"),
    (
        "desktop.category_hint",
        "(분류명이나 코드를 입력해 검색)",
        "(type a name or code to search)",
    ),
    ("desktop.summary", "상담 내용", "Summary"),
    ("desktop.outcome", "처리 결과", "Outcome"),
    ("desktop.department", "이관 부서", "Department"),
    (
        "desktop.department_hint",
        "(부서 이관일 때 부서 코드, 예: waterworks)",
        "(when transferred: department code, e.g. waterworks)",
    ),
    (
        "desktop.submit",
        "저장하고 상담 종료",
        "Save and end the contact",
    ),
    (
        "desktop.unknown_category",
        "목록에 있는 상담 분류를 고르세요.",
        "Choose a category from the list.",
    ),
    (
        "desktop.need_summary",
        "상담 내용을 입력하세요.",
        "Write a summary.",
    ),
    (
        "desktop.need_department",
        "이관할 부서 코드를 입력하세요.",
        "Enter the department code to transfer to.",
    ),
    (
        "desktop.saved",
        "상담 기록을 저장했습니다.",
        "The consultation was saved.",
    ),
    (
        "desktop.error",
        "요청이 거절되었습니다:",
        "The request was refused:",
    ),
    ("desktop.wrapup", "후처리", "Wrap-up"),
    (
        "desktop.wrapup_text",
        "후처리 시간이 끝나면 자동으로 상담 대기로 돌아갑니다. 준비되면 바로 돌아갈 수 있습니다.",
        "You return to available when wrap-up time ends, or as soon as you are ready.",
    ),
    (
        "desktop.ready",
        "상담 대기로 돌아가기",
        "Ready for the next contact",
    ),
    ("desktop.kb", "상담 지식 검색", "Knowledge base"),
    ("desktop.kb_query", "검색어", "Search"),
    (
        "desktop.kb_note",
        "띄어쓰기가 없어도, 조사가 붙어도, 수도세처럼 일상어로 써도 찾습니다.",
        "Finds articles without spaces, with particles, and from everyday words such as 수도세.",
    ),
    ("desktop.kb_results", "검색 결과", "Results"),
    (
        "desktop.kb_suggested",
        "이 상담에 맞는 글",
        "Suggested for this contact",
    ),
    (
        "desktop.kb_none",
        "찾은 글이 없습니다.",
        "No articles found.",
    ),
    ("desktop.kb_back", "목록으로", "Back to the list"),
    (
        "desktop.kb_failed",
        "지식 검색을 하지 못했습니다.",
        "The search failed.",
    ),
    (
        "survey.title",
        "120다산콜센터 상담 만족도",
        "Dasan helpline: how did we do?",
    ),
    (
        "survey.question",
        "오늘 상담은 어떠셨나요?",
        "How was your consultation today?",
    ),
    ("survey.score5", "매우 만족", "Very satisfied"),
    ("survey.score4", "만족", "Satisfied"),
    ("survey.score3", "보통", "Neither"),
    ("survey.score2", "불만", "Dissatisfied"),
    ("survey.score1", "매우 불만", "Very dissatisfied"),
    ("survey.send", "보내기", "Send"),
    (
        "survey.choose",
        "1에서 5 가운데 하나를 골라 주세요.",
        "Please choose one of 1 to 5.",
    ),
    (
        "survey.thanks",
        "응답해 주셔서 고맙습니다.",
        "Thank you for your answer.",
    ),
    (
        "survey.already",
        "이미 응답하신 설문입니다. 고맙습니다.",
        "This survey was answered already. Thank you.",
    ),
    (
        "survey.expired",
        "설문 기간이 지났습니다.",
        "This survey has closed.",
    ),
    (
        "survey.invalid",
        "설문 주소가 올바르지 않습니다.",
        "This survey link is not valid.",
    ),
    ("care.title", "안부 전화", "Care calls"),
    ("care.calls", "오늘의 안부 전화", "Calls of the day"),
    ("care.day", "날짜", "Date"),
    ("care.time", "시각", "Time"),
    ("care.senior", "어르신", "Senior"),
    ("care.district", "자치구", "District"),
    ("care.attempt", "시도", "Try"),
    ("care.status", "상태", "Status"),
    ("care.script", "통화 안내", "Call script"),
    ("care.last_calls", "지난 통화", "Last calls"),
    ("care.notices", "전달할 공지", "Notices to relay"),
    ("care.outcome", "통화 결과", "Outcome"),
    ("care.check", "안부 확인", "Check"),
    ("care.health", "건강", "Health"),
    ("care.meals", "식사", "Meals"),
    ("care.mood", "기분", "Mood"),
    (
        "care.medical",
        "의료 상담 요청",
        "Asks for medical counselling",
    ),
    (
        "care.concern",
        "방문이 필요해 보임",
        "Someone should look in",
    ),
    ("care.note", "메모", "Note"),
    ("care.record", "결과 저장", "Record"),
    ("care.recorded", "저장했습니다", "Recorded"),
    (
        "care.escalated",
        "담당 기관에 알렸습니다",
        "The department was alerted",
    ),
    ("care.outcome.reached", "통화 완료", "Reached"),
    ("care.outcome.no_answer", "받지 않음", "No answer"),
    ("care.outcome.busy", "통화 중", "Busy"),
    (
        "care.outcome.wrong_number",
        "결번·잘못된 번호",
        "Wrong number",
    ),
    ("care.outcome.in_hospital", "입원 중", "In hospital"),
    ("care.outcome.opted_out", "참여 중단 요청", "Opted out"),
    ("care.outcome.deceased", "사망", "Deceased"),
    ("care.health.good", "좋음", "Good"),
    ("care.health.fair", "보통", "Fair"),
    ("care.health.unwell", "아파 보임", "Unwell"),
    ("care.health.fell", "낙상", "Has fallen"),
    ("care.meals.regular", "규칙적", "Regular"),
    ("care.meals.irregular", "불규칙", "Irregular"),
    ("care.meals.no_food", "먹을 것이 없음", "No food"),
    ("care.mood.good", "좋음", "Good"),
    ("care.mood.low", "우울", "Low"),
    ("care.mood.crisis", "위기", "Crisis"),
    ("care.call_status.open", "예정", "Planned"),
    ("care.call_status.queued", "대기열", "Queued"),
    ("care.call_status.done", "완료", "Done"),
    ("care.call_status.cancelled", "취소", "Cancelled"),
    ("care.escalations", "긴급 연계", "Escalations"),
    (
        "care.escalations_hint",
        "오래된 건이 위에 있습니다.",
        "Oldest first.",
    ),
    ("care.opened", "접수", "Opened"),
    ("care.reasons", "사유", "Reasons"),
    ("care.department", "담당 기관", "Department"),
    ("care.age", "경과(분)", "Age (minutes)"),
    ("care.action", "처리", "Action"),
    ("care.esc.open", "접수", "Open"),
    ("care.esc.sent", "전달됨", "Sent"),
    ("care.esc.acknowledged", "확인함", "Acknowledged"),
    ("care.esc.visited", "방문함", "Visited"),
    ("care.esc.resolved", "종결", "Resolved"),
    ("care.reason.unanswered", "연락 두절", "No answer"),
    ("care.reason.wrong_number", "번호 오류", "Wrong number"),
    ("care.reason.deceased", "사망", "Deceased"),
    ("care.reason.fell", "낙상", "Fall"),
    ("care.reason.unwell", "건강 이상", "Unwell"),
    ("care.reason.no_food", "식사 곤란", "No food"),
    ("care.reason.mood_crisis", "정서 위기", "Mood crisis"),
    (
        "care.reason.agent_concern",
        "상담사 판단",
        "Agent's concern",
    ),
    ("care.roster", "어르신 명단", "Roster"),
    ("care.name", "이름", "Name"),
    ("care.phone", "전화번호", "Phone"),
    ("care.per_week", "주당 통화", "Calls a week"),
    ("care.hours", "통화 시간대", "Hours"),
    ("care.consent", "동의일", "Consent"),
    ("care.days", "선호 요일", "Preferred days"),
    ("care.days_hint", "예: 월,수,금", "e.g. mon,wed,fri"),
    ("care.emergency", "비상 연락처", "Emergency contact"),
    ("care.health_notes", "건강 메모", "Health notes"),
    (
        "care.consent_given",
        "오늘 본인 동의를 받았습니다",
        "Consent given today",
    ),
    ("care.enrol", "어르신 등록", "Enrol a senior"),
    ("care.enrol_button", "등록", "Enrol"),
    ("care.new_senior", "새 어르신 등록으로", "Enrol someone new"),
    ("care.exit_reason", "참여 종료 사유", "Reason for leaving"),
    ("care.exit", "참여 종료", "Leave the programme"),
    ("care.editing", "수정 중", "Editing"),
    ("care.import", "CSV로 일괄 등록", "Import a CSV file"),
    ("care.import_label", "CSV 파일", "CSV file"),
    ("care.import_button", "가져오기", "Import"),
    ("care.imported", "등록한 어르신", "Seniors enrolled"),
    ("care.notice_new", "공지 등록", "Post a notice"),
    ("care.notice_title", "제목", "Title"),
    ("care.notice_body", "내용", "Text"),
    (
        "care.notice_districts",
        "대상 자치구(쉼표로 구분, 비우면 전체)",
        "Districts (comma-separated; empty for all)",
    ),
    ("care.valid_from", "시작일", "From"),
    ("care.valid_to", "종료일", "To"),
    ("care.post", "등록", "Post"),
    ("care.week", "이번 주 현황", "This week"),
    ("care.tries", "통화 시도", "Tries"),
    ("care.reached", "통화 완료", "Reached"),
    ("care.coverage", "예정 통화 완료율", "Coverage"),
    ("care.answer_rate", "응답률", "Answer rate"),
    ("care.escalations_opened", "연계 건수", "Escalations opened"),
    (
        "care.resolution_hours",
        "평균 종결 시간(시간)",
        "Mean hours to resolution",
    ),
    ("care.none", "없음", "None"),
    ("care.saved", "저장했습니다", "Saved"),
    ("kbadmin.title", "상담 지식 관리", "Knowledge base"),
    ("kbadmin.articles", "글 목록", "Articles"),
    ("kbadmin.new", "새 글", "New article"),
    ("kbadmin.field_title", "제목", "Title"),
    ("kbadmin.field_category", "분류", "Category"),
    ("kbadmin.field_status", "상태", "Status"),
    ("kbadmin.field_version", "판", "Version"),
    ("kbadmin.field_updated", "고친 사람·때", "Last changed"),
    ("kbadmin.field_id", "글 번호", "Id"),
    (
        "kbadmin.id_hint",
        "(새 글은 비워 두면 만들어집니다)",
        "(left empty, one is made for a new article)",
    ),
    ("kbadmin.field_tags", "꼬리표", "Tags"),
    (
        "kbadmin.tags_hint",
        "(쉼표로 구분)",
        "(separated by commas)",
    ),
    ("kbadmin.field_body", "본문", "Body"),
    ("kbadmin.body_hint", "(마크다운)", "(Markdown)"),
    ("kbadmin.status.published", "게시", "Published"),
    ("kbadmin.status.draft", "초안", "Draft"),
    ("kbadmin.editor", "글 쓰기·고치기", "Write or edit"),
    ("kbadmin.save", "저장", "Save"),
    ("kbadmin.delete", "삭제", "Delete"),
    (
        "kbadmin.confirm_delete",
        "이 글을 삭제할까요? 이력은 남습니다.",
        "Delete this article? Its history is kept.",
    ),
    (
        "kbadmin.saved",
        "저장했습니다. 검색에 바로 반영됩니다.",
        "Saved; search has it already.",
    ),
    (
        "kbadmin.unchanged",
        "바뀐 내용이 없습니다.",
        "Nothing changed.",
    ),
    ("kbadmin.deleted", "삭제했습니다.", "Deleted."),
    (
        "kbadmin.conflict",
        "그사이 다른 사람이 고쳤습니다. 글을 다시 불러온 뒤 고쳐 주세요.",
        "Someone else changed it meanwhile; reload the article and edit again.",
    ),
    ("kbadmin.failed", "하지 못했습니다:", "That failed:"),
    ("kbadmin.versions", "고친 이력", "History"),
    ("kbadmin.no_versions", "이력이 없습니다.", "No history yet."),
    ("kbadmin.count", "글 {n}개", "{n} articles"),
    ("kbadmin.synonyms", "동의어", "Synonyms"),
    (
        "kbadmin.synonyms_label",
        "한 줄에 한 묶음, 쉼표로 구분",
        "One group per line, words separated by commas",
    ),
    (
        "kbadmin.synonyms_hint",
        "첫 낱말이 공식 용어입니다. 예: 수도요금, 수도세, 물값",
        "The first word is the official term, e.g. 수도요금, 수도세, 물값",
    ),
    (
        "kbadmin.synonyms_saved",
        "동의어를 저장했습니다. 검색에 바로 반영됩니다.",
        "Synonyms saved; search uses them already.",
    ),
    ("desktop.keys", "키보드 사용", "Keyboard"),
    (
        "desktop.keys_text",
        "F2 상담 가능, F3 휴식. 상담 요청이 오면 (입력 중이 아니면) 수락 버튼에 초점이 가며 Enter로 수락, Esc로 거절합니다. Tab으로 입력란을 이동합니다.",
        "F2 available, F3 break. An offer takes the focus to Accept (unless you are typing): Enter accepts, Esc declines. Tab moves between fields.",
    ),
    ("outcome.answered", "안내 완료", "Answered"),
    (
        "outcome.transferred",
        "부서 이관",
        "Transferred to a department",
    ),
    ("outcome.callback", "회신 예정", "Call back"),
    ("outcome.dropped", "중단됨", "Dropped"),
    ("channel.voice", "전화", "Phone"),
    ("channel.sms", "문자", "SMS"),
    ("channel.mms", "멀티미디어 문자", "MMS"),
    ("channel.video", "수어 영상", "Sign-language video"),
    ("channel.web", "웹", "Web"),
    ("channel.care_call", "돌봄 전화", "Care call"),
    ("channel.open311", "오픈311", "Open311"),
    ("live.connected", "실시간 연결됨", "Live"),
    (
        "live.reconnecting",
        "연결이 끊겨 다시 연결하는 중…",
        "Connection lost, reconnecting…",
    ),
    ("wallboard.title", "실시간 현황판", "Live wallboard"),
    ("wallboard.updated", "갱신 시각", "Updated"),
    ("wallboard.queues", "대기열 현황 (오늘)", "Queues (today)"),
    (
        "wallboard.sl_note",
        "서비스 레벨: 20초 이내 응대 ÷ (응대 + 포기 − 5초 이내 포기)",
        "Service level: answered within 20 s ÷ (answered + abandoned − abandoned within 5 s)",
    ),
    ("wallboard.queue", "대기열", "Queue"),
    ("wallboard.waiting", "대기 중", "Waiting"),
    ("wallboard.longest", "최장 대기", "Longest wait"),
    ("wallboard.offered", "인입", "Offered"),
    ("wallboard.answered", "응대", "Answered"),
    ("wallboard.abandoned", "포기", "Abandoned"),
    ("wallboard.service_level", "서비스 레벨", "Service level"),
    ("wallboard.abandon_rate", "포기율", "Abandon rate"),
    ("wallboard.total", "전체", "All queues"),
    (
        "wallboard.no_queues",
        "오늘 인입된 상담이 없습니다.",
        "No contacts today yet.",
    ),
    ("wallboard.agents", "상담원 상태", "Agents"),
    ("wallboard.agent", "상담원", "Agent"),
    ("wallboard.state", "상태", "State"),
    ("wallboard.since", "상태 시작", "Since"),
    (
        "wallboard.no_agents",
        "접속한 상담원이 없습니다.",
        "No agent has joined yet.",
    ),
    (
        "wallboard.chart",
        "오늘 30분 단위 상담 건수",
        "Today's consultations per half hour",
    ),
    ("lang.switch", "English", "한국어"),
    (
        "desktop.relay",
        "전화 연결 (통역)",
        "Relay call (interpreting)",
    ),
    (
        "desktop.relay_callee",
        "전화할 번호 (기관·사람)",
        "Number to call (office or person)",
    ),
    ("desktop.relay_call", "내 전화로 걸기", "Call from my phone"),
    ("desktop.relay_end", "전화 끊기", "Hang up the call"),
    (
        "desktop.relay_hint",
        "내 전화가 먼저 울립니다. 받으면 상대에게 전화를 겁니다.",
        "Your phone rings first; when you answer, the number is called.",
    ),
    ("relay.ringing", "전화 거는 중", "Calling"),
    ("relay.answered", "통화 중", "Connected"),
    ("relay.busy", "통화 중이라 연결되지 않음", "Busy"),
    ("relay.no_answer", "받지 않음", "No answer"),
    (
        "relay.agent_unreachable",
        "상담사 전화가 받지 않음",
        "Your phone did not answer",
    ),
    (
        "relay.cancelled",
        "연결 전에 끊음",
        "Hung up before an answer",
    ),
    ("relay.failed", "연결 실패", "Failed"),
    ("relay.ended", "통화 끝", "Call ended"),
    (
        "sign.relay_ringing",
        "상담사가 다른 기관에 전화를 걸고 있습니다. 통역해 드립니다.",
        "The agent is calling the office for you and will interpret.",
    ),
    (
        "sign.relay_answered",
        "상담사가 전화로 통역하고 있습니다.",
        "The agent is interpreting the phone call.",
    ),
    (
        "sign.relay_ended",
        "전화 통역이 끝났습니다.",
        "The interpreted call has ended.",
    ),
    (
        "sign.title",
        "수어 영상 상담",
        "Sign-language video consultation",
    ),
    (
        "sign.intro",
        "청각·언어 장애가 있는 시민을 위한 120 수어 영상 상담입니다. 수어 상담사가 영상으로 답해 드립니다.",
        "The 120 helpline by sign-language video, for Deaf and speech-impaired citizens. A signing agent answers you on video.",
    ),
    (
        "sign.start",
        "수어 상담 시작",
        "Start sign-language consultation",
    ),
    (
        "sign.camera_note",
        "시작하면 카메라 사용 허용을 묻습니다. 영상은 상담사에게만 전달되고 저장되지 않습니다.",
        "Starting asks to use your camera. The video goes only to the agent and is not recorded.",
    ),
    ("sign.large_text", "큰 글씨", "Large text"),
    (
        "sign.camera_denied",
        "카메라를 사용할 수 없습니다. 브라우저 설정에서 카메라를 허용한 뒤 다시 시작해 주세요.",
        "The camera is not available. Allow the camera in your browser settings, then start again.",
    ),
    (
        "sign.failed",
        "연결하지 못했습니다. 잠시 후 다시 시도해 주세요.",
        "Could not connect. Please try again shortly.",
    ),
    (
        "sign.waiting",
        "수어 상담사를 연결하고 있습니다",
        "Connecting you to a signing agent",
    ),
    ("sign.position", "대기 순서", "Your place in line"),
    ("sign.expected", "예상 대기 시간", "Expected wait"),
    ("sign.waited", "기다린 시간", "Waited"),
    ("sign.calculating", "계산 중", "Calculating"),
    ("sign.minutes", "분", "min"),
    ("sign.seconds", "초", "s"),
    ("sign.self_view", "내 화면", "You"),
    ("sign.agent_view", "상담사 화면", "Agent"),
    (
        "sign.joined",
        "상담사가 연결되었습니다. 영상을 연결하고 있습니다.",
        "An agent has joined. Connecting the video.",
    ),
    (
        "sign.connected",
        "영상이 연결되었습니다.",
        "Video connected.",
    ),
    (
        "sign.reconnecting",
        "영상 연결이 불안정합니다. 다시 연결하고 있습니다.",
        "The video connection is unstable. Reconnecting.",
    ),
    ("sign.chat", "문자 대화", "Text chat"),
    (
        "sign.chat_label",
        "메시지 (이름, 숫자, 주소 등)",
        "Message (names, numbers, addresses...)",
    ),
    ("sign.send", "보내기", "Send"),
    ("sign.me", "나", "Me"),
    ("sign.agent", "상담사", "Agent"),
    ("sign.end", "상담 끝내기", "End consultation"),
    (
        "sign.ended",
        "상담이 끝났습니다. 이용해 주셔서 감사합니다.",
        "The consultation has ended. Thank you.",
    ),
    ("sign.again", "다시 시작", "Start again"),
    (
        "sign.callback_offer",
        "지금은 수어 상담사가 모두 상담 중입니다. 휴대전화 번호를 남기시면 영상으로 다시 연락드리거나 문자로 답해 드립니다.",
        "All signing agents are busy right now. Leave your mobile number and we will call you back on video or answer by text message.",
    ),
    ("sign.callback_phone", "휴대전화 번호", "Mobile number"),
    (
        "sign.callback_video",
        "영상으로 다시 연락받기",
        "Video callback",
    ),
    (
        "sign.callback_sms",
        "문자로 답변받기",
        "Answer by text message",
    ),
    ("sign.callback_send", "번호 남기기", "Leave my number"),
    (
        "sign.callback_done",
        "번호를 남겼습니다. 순서대로 연락드리겠습니다.",
        "Your number is saved. We will contact you in turn.",
    ),
    (
        "sign.callback_invalid",
        "휴대전화 번호를 확인해 주세요.",
        "Please check the mobile number.",
    ),
    ("sign.keep_waiting", "계속 기다리기", "Keep waiting"),
    ("desktop.video", "수어 영상 상담", "Sign-language video"),
    (
        "desktop.video_connecting",
        "영상 연결 중",
        "Connecting video",
    ),
    ("desktop.video_connected", "영상 연결됨", "Video connected"),
    (
        "desktop.video_ended",
        "시민이 상담을 끝냈습니다. 상담 내용을 기록해 주세요.",
        "The citizen ended the call. Please record the consultation.",
    ),
    ("desktop.video_end", "영상 끝내기", "End video"),
    ("desktop.video_citizen", "시민 화면", "Citizen"),
    ("desktop.video_self", "내 화면", "You"),
    ("desktop.no_phone", "번호 없음", "No number"),
];

/// The message for `key` in `lang`; the key itself if it is missing (a test
/// checks that none is).
pub fn t(lang: Lang, key: &str) -> &'static str {
    MESSAGES
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, ko, en)| match lang {
            Lang::Ko => *ko,
            Lang::En => *en,
        })
        .unwrap_or("?")
}

/// Every key the UI uses, for the completeness test.
pub fn keys() -> impl Iterator<Item = &'static str> {
    MESSAGES.iter().map(|(k, _, _)| *k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages_and_keys_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (key, ko, en) in MESSAGES {
            assert!(seen.insert(key), "duplicate {key}");
            assert!(!ko.is_empty() && !en.is_empty(), "{key}");
            // Korean text really is Korean (Hangul), except the language
            // switch, which names the other language.
            if *key != "lang.switch" {
                assert!(
                    ko.chars().any(|c| ('가'..='힣').contains(&c)),
                    "{key}: {ko}"
                );
            }
        }
        assert_eq!(t(Lang::En, "reports.title"), "Consultation reports");
        assert_eq!(t(Lang::Ko, "no.such.key"), "?");
    }

    /// Every key the code names exists: literal keys in the Rust pages and
    /// the scripts, and each member of the families the scripts build from
    /// data (`presence.` + a presence, ...).
    #[test]
    fn every_key_the_code_uses_exists() {
        // Read at run time: a binary built in another checkout sharing the
        // target folder would carry that checkout's path.
        let root = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
        let root = std::path::Path::new(&root);
        let mut sources = Vec::new();
        for dir in ["src", "src/care", "src/voice", "src/video", "assets"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("dir") {
                let path = entry.expect("entry").path();
                // This file's own tests name a missing key on purpose.
                let own = path.file_name().is_some_and(|n| n == "i18n.rs");
                if !own && matches!(path.extension().and_then(|e| e.to_str()), Some("rs" | "js")) {
                    sources.push(std::fs::read_to_string(&path).expect("source"));
                }
            }
        }
        let known: std::collections::HashSet<&str> = keys().collect();
        let mut used = Vec::new();
        for source in &sources {
            for opener in [
                "t(lang, \"",
                "tx(\"",
                "t(\"",
                "t(Lang::Ko, \"",
                "t(Lang::En, \"",
            ] {
                for (at, _) in source.match_indices(opener) {
                    // A call of `t`/`tx` itself, not of `insert(`, `get(`...
                    let before = source[..at].chars().next_back();
                    if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                        continue;
                    }
                    let rest = &source[at + opener.len()..];
                    let Some(end) = rest.find('"') else { continue };
                    let key = &rest[..end];
                    // A prefix the code completes at run time: checked below.
                    if !key.ends_with(['.', '_']) && !key.is_empty() && !key.contains(' ') {
                        used.push(key.to_owned());
                    }
                }
            }
        }
        assert!(used.len() > 50, "the scan found the keys ({})", used.len());
        let families: [(&str, &[&str]); 8] = [
            (
                "relay.",
                &[
                    "ringing",
                    "answered",
                    "busy",
                    "no_answer",
                    "agent_unreachable",
                    "cancelled",
                    "failed",
                    "ended",
                ],
            ),
            (
                "presence.",
                &[
                    "offline",
                    "available",
                    "reserved",
                    "busy",
                    "wrap_up",
                    "break",
                ],
            ),
            (
                "channel.",
                &[
                    "voice",
                    "sms",
                    "mms",
                    "video",
                    "web",
                    "care_call",
                    "open311",
                ],
            ),
            (
                "outcome.",
                &["answered", "transferred", "callback", "dropped"],
            ),
            ("live.", &["connected", "reconnecting"]),
            ("message.media_", &["pending", "refused", "failed"]),
            ("message.", &["inbound", "outbound"]),
            (
                "message.status.",
                &[
                    "received",
                    "queued",
                    "retrying",
                    "sent",
                    "delivered",
                    "read",
                    "failed",
                    "undelivered",
                    "opted_out",
                ],
            ),
        ];
        for (prefix, members) in families {
            for member in members {
                used.push(format!("{prefix}{member}"));
            }
        }
        let missing: Vec<&String> = used
            .iter()
            .filter(|k| !known.contains(k.as_str()))
            .collect();
        assert!(missing.is_empty(), "keys without messages: {missing:?}");
    }

    #[test]
    fn the_language_follows_the_query_then_the_cookie_and_is_korean_otherwise() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::choose(None, &headers), Lang::Ko);
        headers.insert(
            axum::http::header::ACCEPT_LANGUAGE,
            "en-US,en;q=0.9".parse().expect("header"),
        );
        assert_eq!(Lang::choose(None, &headers), Lang::Ko, "not the browser's");
        headers.insert(
            axum::http::header::COOKIE,
            "dasan_lang=en".parse().expect("header"),
        );
        assert_eq!(Lang::choose(None, &headers), Lang::En);
        assert_eq!(Lang::choose(Some("ko"), &headers), Lang::Ko);
        assert_eq!(Lang::choose(Some("fr"), &HeaderMap::new()), Lang::Ko);
    }
}
