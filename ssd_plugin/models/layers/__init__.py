from .box_voting import box_voting, check_box_voting

__all__ = ['box_voting', 'check_box_voting']
